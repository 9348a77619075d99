import { CLUSTER_KEK_LABEL } from '../../../domain/identifiers';
import { uniqueName } from '../../support/system';
import { eventually } from '../../support/eventually';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack, type FaultStack, type StackProcess } from '../stack';
import { SHORT_POLICY, identityPrefix, keyView, killDuringStep, pendingActivities, recording, scheduled, versionState, type KillOutcome, type KillPlan } from '../steps';

/**
 * Scenario 1: the worker doing a step of a rotation is SIGKILLed while it holds the step's attempt, then started
 * again 2 s later. HSM steps: generate (caught while an rsa-3072 generation runs), replicate (per target node), archive,
 * verify, purge, each on the node doing it. Control steps: the control worker killed while it holds a recording, the
 * risk evaluation, the grace end's usage check, the archive's storage and the purge's blob deletion. Each kill gets a
 * key of its own, whose cycle runs to the purge of v1 before the invariants are checked.
 */

type Trigger = 'create' | 'rotate' | 'after-rotate';

interface KillRun {
  /** The row of the table this run counts in. */
  step: string;
  /** What the run does when the step comes: the plan needs the key and the stack (a node that holds a version). */
  plan: (key: string, stack: FaultStack) => Promise<Omit<KillPlan, 'key'>>;
  /** When the kill is armed: once the key is created (no rotation then), before its rotation, or once the rotation is answered. */
  armAt: Trigger;
  keyType?: string;
}

const hsm = (node: string): StackProcess => `hsm:${node}`;

function runs(stack: FaultStack, quick: boolean): KillRun[] {
  const [first, second, third] = stack.nodes.map((node) => node.id) as [string, string, string];
  const hsmRuns: KillRun[] = [
    // The generation runs on whichever node its ping chose: found while it runs.
    { step: 'generate', armAt: 'create', keyType: 'rsa-3072', plan: async (key) => ({ activity: 'generateKeyPair', victim: await generatingNode(stack, key), arm: { kind: 'running' } }) },
    // v2 is generated on the second of the nodes that answer (one per version, round robin): the others are its
    // targets, frozen the moment the primary is asked to wrap it for them.
    ...(quick ? [third] : [first, third]).map((target): KillRun => ({
      step: 'replicate',
      armAt: 'rotate',
      plan: () => Promise.resolve({ activity: 'importReplica', victim: hsm(target), arm: { kind: 'event', match: scheduled('wrapPrivateKey', (input) => input.wrappingKeyLabel === CLUSTER_KEK_LABEL) } }),
    })),
    { step: 'archive', armAt: 'after-rotate', plan: async (key) => ({ activity: 'wrapPrivateKey', victim: hsm(await holderOf(stack, key, 1)), arm: { kind: 'now' } }) },
    { step: 'verify', armAt: 'rotate', plan: () => Promise.resolve({ activity: 'describeKey', victim: hsm(first), arm: { kind: 'event', match: recording('key.version.archived', 1) } }) },
    { step: 'purge', armAt: 'rotate', plan: () => Promise.resolve({ activity: 'destroyKeyObjects', victim: hsm(second), arm: { kind: 'event', match: recording('key.version.verified', 1) } }) },
  ];
  const control = (step: string, activity: string, armAt: Trigger, match: KillPlan['arm']): KillRun => ({ step, armAt, plan: () => Promise.resolve({ activity, victim: 'control', arm: match }) });
  const controlRuns: KillRun[] = [
    control('publish (control)', 'recordKeyEvent', 'create', { kind: 'event', match: recording('key.version.activated', 1) }),
    control('control: risk evaluation', 'evaluateKeyRisk', 'create', { kind: 'event', match: scheduled('evaluateKeyRisk') }),
    ...(quick ? [] : [
      control('control: which nodes', 'getClusterNodes', 'rotate', { kind: 'event', match: scheduled('getClusterNodes') }),
      control('control: record generated', 'recordKeyEvent', 'create', { kind: 'event', match: recording('key.version.generated', 1) }),
      control('control: grace end usage check', 'countSignsAfter', 'rotate', { kind: 'event', match: scheduled('countSignsAfter') }),
      control('control: store archive', 'storeArchiveBlob', 'rotate', { kind: 'event', match: scheduled('storeArchiveBlob') }),
      control('control: record archived', 'recordKeyEvent', 'rotate', { kind: 'event', match: recording('key.version.archived', 1) }),
      control('control: delete archive', 'deleteArchiveBlob', 'rotate', { kind: 'event', match: scheduled('deleteArchiveBlob') }),
    ]),
  ];
  return [...hsmRuns, ...controlRuns];
}

/** The node whose worker runs the key's generation now. */
async function generatingNode(stack: FaultStack, key: string): Promise<StackProcess> {
  return eventually(async () => {
    const generating = (await pendingActivities(stack, key)).find((pending) => pending.activityType?.name === 'generateKeyPair' && pending.lastWorkerIdentity);
    const node = stack.nodes.find((candidate) => (generating?.lastWorkerIdentity ?? '').startsWith(identityPrefix(hsm(candidate.id))));
    return node ? hsm(node.id) : undefined;
  }, `the generation of ${key} to start`, 120_000, 25);
}

/** The node that generated the version: its archive is wrapped there. */
async function holderOf(stack: FaultStack, key: string, version: number): Promise<string> {
  const found = (await keyView(stack, key)).versions.find((v) => v.version === version);
  if (!found) throw new Error(`${key} has no v${version}`);
  return found.generatedOn;
}

interface RunRecord {
  step: string;
  outcome: KillOutcome;
  counts: Awaited<ReturnType<typeof checkInvariants>>;
}

async function runOne(stack: FaultStack, ledger: Ledger, run: KillRun, log: (line: string) => void): Promise<RunRecord> {
  const key = uniqueName('kill-');
  let kill: Promise<KillOutcome> | undefined;
  const arm = async (): Promise<void> => {
    const plan = { key, ...(await run.plan(key, stack)) };
    kill = killDuringStep(stack, plan, log);
    // Nobody waits for it yet: a failure must not go unhandled in the meantime.
    kill.catch(() => undefined);
  };
  const create = async (): Promise<void> => {
    const created = await stack.api('POST', '/keys', { name: key, type: run.keyType ?? 'ec-p256', policy: SHORT_POLICY, reason: `fault scenario: ${run.step}` });
    if (created.status !== 202) throw new Error(`creating ${key} answered ${created.status}: ${JSON.stringify(created.body)}`);
    ledger.acknowledged.push({ key, version: 1 });
  };

  await create();
  // Arming reads the key's workflow, so it follows the create; an event arm counts only events written after it.
  if (run.armAt === 'create') await arm();
  await versionState(stack, key, 1, 'active');
  const rotates = run.armAt !== 'create';
  if (rotates) {
    // Wait for the first evaluation to be over, so that the rotation is the key's only work.
    await eventually(async () => ((await keyView(stack, key)).working === null ? true : undefined), `${key} to be idle`, 120_000);
    if (run.armAt === 'rotate') await arm();
    const rotated = await stack.api('POST', `/keys/${key}/rotate`, { reason: `fault scenario: ${run.step}` });
    if (rotated.status !== 200) throw new Error(`rotating ${key} answered ${rotated.status}: ${JSON.stringify(rotated.body)}`);
    ledger.acknowledged.push({ key, version: (rotated.body as { version: number }).version });
    if (run.armAt === 'after-rotate') await arm();
  }
  const outcome = await (kill as Promise<KillOutcome>);
  // The key's cycle runs on to its end: v1 purged when it rotated, otherwise idle with v1 active.
  if (rotates) await versionState(stack, key, 1, 'purged', 240_000);
  else await eventually(async () => ((await keyView(stack, key)).working === null ? true : undefined), `${key} to be idle`, 120_000);
  const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes }, ledger);
  for (const witness of counts.witnesses) log(`  ${witness}`);
  return { step: run.step, outcome, counts };
}

/** One row per step type: its kills, what the invariants found after them, and the slowest recovery. */
export function summarise(prefix: string, records: RunRecord[]): ScenarioResult[] {
  const steps = [...new Set(records.map((record) => record.step))];
  return steps.map((step) => {
    const mine = records.filter((record) => record.step === step);
    const missed = mine.filter((record) => !record.outcome.caught).length;
    return {
      name: `${prefix}/${step}`,
      runs: mine.length,
      completed: mine.filter((record) => record.counts.completed && record.counts.auditVerified).length,
      duplicates: mine.reduce((sum, record) => sum + record.counts.duplicates, 0),
      orphans: mine.reduce((sum, record) => sum + record.counts.orphans, 0),
      lost: mine.reduce((sum, record) => sum + record.counts.lost, 0),
      stranded: mine.reduce((sum, record) => sum + record.counts.stranded, 0),
      maxRecoveryS: Math.max(0, ...mine.map((record) => record.outcome.recoveryS)),
      notes: [
        ...mine.map((record) => record.outcome.note),
        ...(missed > 0 ? [`${missed} kill(s) found no attempt held by the victim`] : []),
        ...mine.flatMap((record) => record.counts.witnesses),
      ],
    };
  });
}

export async function runWorkerKills(options: { quick: boolean; log: (line: string) => void; only?: string[] }): Promise<ScenarioResult[]> {
  const stack = await startFaultStack({ nodes: 3, log: options.log });
  const ledger: Ledger = { acknowledged: [] };
  const records: RunRecord[] = [];
  try {
    for (const run of runs(stack, options.quick).filter((candidate) => !options.only || options.only.some((step) => candidate.step.startsWith(step)))) {
      options.log(`kill during ${run.step}`);
      records.push(await runOne(stack, ledger, run, options.log));
    }
  } finally {
    await stack.stop();
  }
  return summarise('worker-kills', records);
}

export const scenario: FaultScenario = {
  name: 'worker-kills',
  run: (options) => runWorkerKills(options),
};
