import { uniqueName } from '../../support/system';
import { eventually } from '../../support/eventually';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack, type FaultStack } from '../stack';
import { SHORT_POLICY, keyView, versionState } from '../steps';

/**
 * Scenario 4: one node's HSM worker is away (SIGKILLed) while several keys rotate and one key's retired version comes
 * to its purge; then it comes back. A lifecycle step that must happen on a node waits for that node (no
 * schedule-to-start timeout), so the rotations are acknowledged only once the node is back, and the purge destroys the
 * version there too; meanwhile each waiting key must say so (GET /keys/:name) and the key map sync marks the node
 * stale. Measured: from the node's return to every answer received, the purge done, and one key map sync finding every
 * node in sync.
 */

interface SyncNode {
  nodeId: string;
  status: string;
}

async function createActive(stack: FaultStack, ledger: Ledger, key: string): Promise<void> {
  const created = await stack.api('POST', '/keys', { name: key, type: 'ec-p256', policy: SHORT_POLICY, reason: 'fault scenario: node away' });
  if (created.status !== 202) throw new Error(`creating ${key} answered ${created.status}: ${JSON.stringify(created.body)}`);
  ledger.acknowledged.push({ key, version: 1 });
  await versionState(stack, key, 1, 'active');
  await eventually(async () => ((await keyView(stack, key)).working === null ? true : undefined), `${key} to be idle`, 120_000);
}

export async function runNodeAway(options: { quick: boolean; log: (line: string) => void; stack?: FaultStack }): Promise<ScenarioResult[]> {
  const { log } = options;
  const stack = options.stack ?? (await startFaultStack({ nodes: 3, log }));
  const ledger: Ledger = { acknowledged: [] };
  const notes: string[] = [];
  try {
    const away = stack.nodes[2]?.id as string;
    const rotating = Array.from({ length: options.quick ? 2 : 4 }, () => uniqueName('away-'));
    const purged = uniqueName('away-purge-');
    for (const key of [...rotating, purged]) await createActive(stack, ledger, key);

    // The purge key retires v1 first: its grace, archive, verification and purge fall in the node's absence.
    const first = await stack.api('POST', `/keys/${purged}/rotate`, { reason: 'fault scenario: node away (purge)' });
    if (first.status !== 200) throw new Error(`rotating ${purged} answered ${first.status}`);
    ledger.acknowledged.push({ key: purged, version: (first.body as { version: number }).version });

    await stack.kill(`hsm:${away}`);
    const leftAt = Date.now();
    // Each rotation waits for the absent node (its replica); the answers come once it is back.
    const answers = rotating.map(async (key) => {
      const reply = await stack.api('POST', `/keys/${key}/rotate`, { reason: `fault scenario: ${away} away` });
      return { key, reply, at: Date.now() };
    });
    for (const answer of answers) answer.catch(() => undefined);

    // What an operator sees meanwhile: the sync marks the node stale; each key says what it waits for (or not).
    const stale = await eventually(async () => {
      const { body } = await stack.api('GET', '/keymap/nodes');
      const node = (body as { nodes: Array<{ id: string; stale: boolean; staleReason: string | null }> }).nodes.find((candidate) => candidate.id === away);
      return node?.stale ? node : undefined;
    }, `the key map to mark ${away} stale`, 180_000, 1000).then((node) => `key map: ${away} stale (${node.staleReason ?? '?'})`, () => `key map: ${away} never marked stale`);
    notes.push(stale);
    // One look, not a wait: a rotation's answer must come before the client's own timeout (undici's is 300 s).
    const views = await Promise.all([...rotating, purged].map((key) => keyView(stack, key)));
    const silent = views.filter((view) => view.waiting === null);
    notes.push(silent.length === 0 ? `every key says it waits: ${views.map((view) => JSON.stringify(view.waiting)).join('; ')}` : `not every key said it waits: ${silent.map((view) => `${view.name} (working: ${view.working ?? 'nothing'})`).join(', ')}`);
    // The away time covers at least the purge key's grace period and the rotations.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (options.quick ? 20_000 : 60_000) - (Date.now() - leftAt))));
    const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes.filter((node) => node.id !== away) }, { acknowledged: [] });
    log(`while ${away} was away: ${counts.witnesses.length} witness line(s)`);

    await stack.start(`hsm:${away}`);
    const back = Date.now();
    log(`${away} back after ${((back - leftAt) / 1000).toFixed(0)} s away`);
    const replies = await Promise.all(answers);
    for (const { key, reply, at } of replies) {
      if (reply.status !== 200) throw new Error(`rotating ${key} while ${away} was away answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      ledger.acknowledged.push({ key, version: (reply.body as { version: number }).version });
      log(`${key} rotated ${((at - back) / 1000).toFixed(1)} s after ${away} came back`);
    }
    await versionState(stack, purged, 1, 'purged', 240_000);
    const lifecycleDone = Date.now();
    // One sync after the lifecycle caught up: every node in sync, nothing left to repair.
    const { status, body } = await stack.api('POST', '/keymap/sync');
    if (status !== 200) throw new Error(`POST /keymap/sync answered ${status}: ${JSON.stringify(body)}`);
    const syncNodes = (body as { nodes: SyncNode[] }).nodes;
    const synced = Date.now();
    const converged = syncNodes.every((node) => node.status === 'in-sync' || node.status === 'repaired');
    notes.push(`after ${away}'s return: lifecycle caught up in ${((lifecycleDone - back) / 1000).toFixed(1)} s, one sync done ${((synced - back) / 1000).toFixed(1)} s after the return: ${syncNodes.map((node) => `${node.nodeId} ${node.status}`).join(', ')}`);

    const after = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes }, ledger);
    for (const witness of after.witnesses) log(`  ${witness}`);
    return [{
      name: 'node-away',
      runs: 1,
      completed: after.completed && after.auditVerified && converged ? 1 : 0,
      duplicates: after.duplicates,
      orphans: after.orphans,
      lost: after.lost,
      stranded: after.stranded,
      maxRecoveryS: (synced - back) / 1000,
      notes: [...notes, ...(converged ? [] : ['one sync did not bring every node in sync']), ...after.witnesses],
    }];
  } finally {
    if (!options.stack) await stack.stop();
  }
}

export const scenario: FaultScenario = {
  name: 'node-away',
  run: (options) => runNodeAway(options),
};
