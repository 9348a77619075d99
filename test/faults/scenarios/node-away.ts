import { uniqueName } from '../../support/system';
import { eventually } from '../../support/eventually';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack, type FaultStack } from '../stack';
import { SHORT_POLICY, keyView, versionState } from '../steps';

/**
 * Scenario 4: one node's HSM worker is away (SIGKILLed) while several keys rotate and one key's retired version comes
 * to its purge; then it comes back. A lifecycle step that must happen on a node waits for that node, so the rotations
 * complete only once the node is back, and the purge destroys the version there too. The rotations ask for the early
 * answer (`Prefer: respond-async`): each is acknowledged (202) once its version is recorded, while its replica waits.
 * Meanwhile each rotating key must name the node it waits for (GET /keys/:name `waiting`), an alert must say so, and
 * the key map sync marks the node stale; after the return every wait clears. Measured: from the node's return to every
 * rotation done, the purge done, and one key map sync finding every node in sync.
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
    // Each rotation waits for the absent node (its replica); the early answer comes while it waits.
    const accepted = await Promise.all(rotating.map(async (key) => {
      const reply = await stack.api('POST', `/keys/${key}/rotate`, { reason: `fault scenario: ${away} away` }, { prefer: 'respond-async' });
      if (reply.status !== 202) throw new Error(`rotating ${key} with Prefer: respond-async while ${away} was away answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      const body = reply.body as { version: number; state: string; waiting: { nodes?: string[] } | null };
      ledger.acknowledged.push({ key, version: body.version });
      log(`${key}: v${body.version} ${body.state} accepted ${((Date.now() - leftAt) / 1000).toFixed(1)} s after ${away} left (waiting: ${JSON.stringify(body.waiting)})`);
      return { key, version: body.version };
    }));

    // Each rotating key names the node it waits for, and an alert says so (no key waits with nobody told).
    let visible = true;
    for (const key of rotating) {
      const shown = await eventually(async () => {
        const { waiting } = await keyView(stack, key) as { waiting: { for: string; nodes?: string[]; step?: string; since: string } | null };
        return waiting?.nodes?.includes(away) ? waiting : undefined;
      }, `${key} to say it waits for ${away}`, 120_000, 500).catch(() => undefined);
      const told = await eventually(async () => {
        const { body } = await stack.api('GET', '/alerts');
        return (body as { alerts: Array<{ subject: string; message: string }> }).alerts.find((alert) => alert.subject === `key/${key}` && alert.message.includes(away));
      }, `an alert about ${key} waiting for ${away}`, 120_000, 1000).catch(() => undefined);
      visible &&= shown !== undefined && told !== undefined;
      notes.push(shown ? `${key} waits for ${away} (${shown.step ?? '?'}) since ${shown.since}${told ? ', alerted' : ', NOT alerted'}` : `${key} never said it waits for ${away}`);
    }

    // What an operator sees meanwhile: the sync marks the node stale; each key says what it waits for (or not).
    const stale = await eventually(async () => {
      const { body } = await stack.api('GET', '/keymap/nodes');
      const node = (body as { nodes: Array<{ id: string; stale: boolean; staleReason: string | null }> }).nodes.find((candidate) => candidate.id === away);
      return node?.stale ? node : undefined;
    }, `the key map to mark ${away} stale`, 180_000, 1000).then((node) => `key map: ${away} stale (${node.staleReason ?? '?'})`, () => `key map: ${away} never marked stale`);
    notes.push(stale);
    // One look, not a wait: a rotation's answer must come before the client's own timeout (undici's is 300 s).
    const purgeView = await keyView(stack, purged);
    notes.push(`${purged} (grace, archive, purge): working ${purgeView.working ?? 'nothing'}, waiting ${JSON.stringify(purgeView.waiting)}`);
    // The away time covers at least the purge key's grace period and the rotations.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (options.quick ? 20_000 : 60_000) - (Date.now() - leftAt))));
    const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes.filter((node) => node.id !== away) }, { acknowledged: [] });
    log(`while ${away} was away: ${counts.witnesses.length} witness line(s)`);

    await stack.start(`hsm:${away}`);
    const back = Date.now();
    log(`${away} back after ${((back - leftAt) / 1000).toFixed(0)} s away`);
    for (const { key, version } of accepted) {
      await versionState(stack, key, version, 'active', 240_000);
      log(`${key} v${version} active ${((Date.now() - back) / 1000).toFixed(1)} s after ${away} came back`);
    }
    // Every wait clears once the node's steps ran.
    const cleared = await eventually(async () => {
      const views = await Promise.all([...rotating, purged].map((key) => keyView(stack, key)));
      return views.every((view) => view.waiting === null) ? true : undefined;
    }, `every key to stop waiting after ${away}'s return`, 240_000, 500).catch(() => false);
    notes.push(cleared ? `every wait cleared ${((Date.now() - back) / 1000).toFixed(1)} s after the return` : 'some key still waits after the return');
    await versionState(stack, purged, 1, 'purged', 240_000);
    // The rotated keys' old versions end their short grace periods now: the witnesses look once those archives are
    // over (an archive destroys the private keys before it records the version archived).
    await eventually(async () => {
      const views = await Promise.all(rotating.map((key) => keyView(stack, key)));
      return views.every((view) => view.working === null && !view.versions.some((v) => v.state === 'retiring')) ? true : undefined;
    }, 'the rotated keys to end their grace periods', 240_000, 500);
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
      completed: after.completed && after.auditVerified && converged && visible && cleared ? 1 : 0,
      duplicates: after.duplicates,
      orphans: after.orphans,
      lost: after.lost,
      stranded: after.stranded,
      maxRecoveryS: (synced - back) / 1000,
      notes: [...notes, ...(converged ? [] : ['one sync did not bring every node in sync']), ...(visible ? [] : ['a waiting key did not name the node, or no alert said so']), ...after.witnesses],
    }];
  } finally {
    if (!options.stack) await stack.stop();
  }
}

export const scenario: FaultScenario = {
  name: 'node-away',
  run: (options) => runNodeAway(options),
};
