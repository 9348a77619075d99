import { CLUSTER_KEK_LABEL } from '../../../domain/identifiers';
import { uniqueName } from '../../support/system';
import { eventually } from '../../support/eventually';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack, type FaultStack, type StackProcess } from '../stack';
import { SHORT_POLICY, identityPrefix, keyView, killDuringStep, pendingActivities, recording, scheduled, versionState, type KillOutcome, type KillPlan } from '../steps';

/**
 * Scenario 1: the worker doing a step of a rotation is SIGKILLed while it holds the step's attempt, then started
 * again 2 s later. HSM steps: generate (caught while an rsa-3072 generation runs), replicate (per target node), archive
 * (the wrap under the archive key, and the destruction of the private key once the archive is stored), verify (the look
 * for live objects, and the archive unwrapped and tested), purge, each on the node doing it. Control steps: the control
 * worker killed while it holds a recording, the risk evaluation, the grace end's usage check, the archive's storage,
 * its load for the verification and the purge's blob deletion. Each kill gets a key of its own, whose cycle runs to
 * the purge of v1 before the invariants are checked.
 */

type Trigger = 'create' | 'rotate' | 'after-rotate';

interface KillSpec {
  /** The row of the table this kill counts in. */
  step: string;
  /** The kill, once the key exists: the plan may need to look (the node generating, the node holding a version). */
  plan: (key: string) => Promise<Omit<KillPlan, 'key'>>;
  /** When the kill is armed: once the key is created, before its rotation, or once the rotation is answered. */
  armAt: Trigger;
}

/** One key's cycle (create, then rotate and run to v1's purge when a kill needs it) and the kills it suffers. */
interface Cycle {
  keyType: string;
  kills: KillSpec[];
}

const hsm = (node: string): StackProcess => `hsm:${node}`;

function kills(stack: FaultStack, quick: boolean): KillSpec[] {
  const [first, second, third] = stack.nodes.map((node) => node.id) as [string, string, string];
  const plan = (value: Omit<KillPlan, 'key'>) => () => Promise.resolve(value);
  const control = (step: string, activity: string, armAt: Trigger, arm: KillPlan['arm']): KillSpec => ({ step, armAt, plan: plan({ activity, victim: 'control', arm }) });
  const onNode = (step: string, node: string, activity: string, arm: KillPlan['arm']): KillSpec => ({ step, armAt: 'rotate', plan: plan({ activity, victim: hsm(node), arm }) });
  return [
    // The generation runs on whichever node its ping chose: found while it runs (rsa-3072 takes a while).
    { step: 'generate', armAt: 'create', plan: async (key) => ({ activity: 'generateKeyPair', victim: await generatingNode(stack, key), arm: { kind: 'running' } }) },
    control('publish (control)', 'recordKeyEvent', 'create', { kind: 'event', match: recording('key.version.activated', 1) }),
    control('control: risk evaluation', 'evaluateKeyRisk', 'create', { kind: 'event', match: scheduled('evaluateKeyRisk') }),
    // v2 is generated on the second of the nodes that answer (one per version, round robin): the others are its
    // targets, each frozen the moment the primary is asked to wrap v2 for them.
    ...(quick ? [third] : [first, third]).map((target): KillSpec => ({
      step: 'replicate',
      armAt: 'rotate',
      plan: plan({ activity: 'importReplica', victim: hsm(target), arm: { kind: 'event', match: scheduled('wrapPrivateKey', (input) => input.wrappingKeyLabel === CLUSTER_KEK_LABEL) } }),
    })),
    { step: 'archive', armAt: 'after-rotate', plan: async (key) => ({ activity: 'wrapPrivateKey', victim: hsm(await holderOf(stack, key, 1)), arm: { kind: 'now' } }) },
    // The archive stored, the version's private key is destroyed on every node: the move to `archived`.
    onNode('archive: destroy private key', second, 'destroyKeyObjects', { kind: 'event', match: scheduled('destroyKeyObjects', (input) => input.privateKey === true && input.publicKey === false) }),
    { step: 'verify', armAt: 'rotate', plan: plan({ activity: 'describeKey', victim: hsm(first), arm: { kind: 'event', match: recording('key.version.archived', 1) } }) },
    { step: 'purge', armAt: 'rotate', plan: plan({ activity: 'destroyKeyObjects', victim: hsm(second), arm: { kind: 'event', match: recording('key.version.verified', 1) } }) },
    ...(quick ? [] : [
      // The verification unwraps the stored archive on the first node and tests it against the version's public key.
      onNode('verify: unwrap archive', first, 'verifyArchivedBlob', { kind: 'event', match: scheduled('verifyArchivedBlob') }),
      control('control: which nodes', 'getClusterNodes', 'rotate', { kind: 'event', match: scheduled('getClusterNodes') }),
      control('control: record generated', 'recordKeyEvent', 'create', { kind: 'event', match: recording('key.version.generated', 1) }),
      control('control: grace end usage check', 'countSignsAfter', 'rotate', { kind: 'event', match: scheduled('countSignsAfter') }),
      control('control: store archive', 'storeArchiveBlob', 'rotate', { kind: 'event', match: scheduled('storeArchiveBlob') }),
      control('control: load archive', 'loadArchiveBlob', 'rotate', { kind: 'event', match: scheduled('loadArchiveBlob') }),
      control('control: record archived', 'recordKeyEvent', 'rotate', { kind: 'event', match: recording('key.version.archived', 1) }),
      control('control: delete archive', 'deleteArchiveBlob', 'rotate', { kind: 'event', match: scheduled('deleteArchiveBlob') }),
    ]),
  ];
}

/**
 * Full: a key per kill, so that each row's invariants speak of its kill alone. Quick: one key suffers every kill, one
 * after the other as its cycle reaches each step (a kill is armed before its step and fires when the step comes).
 */
function cycles(stack: FaultStack, quick: boolean, only: string[] | undefined): Cycle[] {
  const chosen = kills(stack, quick).filter((kill) => !only || only.some((step) => kill.step.startsWith(step)));
  const keyType = (specs: KillSpec[]): string => (specs.some((kill) => kill.step === 'generate') ? 'rsa-3072' : 'ec-p256');
  return quick ? [{ keyType: keyType(chosen), kills: chosen }] : chosen.map((kill) => ({ keyType: keyType([kill]), kills: [kill] }));
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
  /** How many times the kill was made again on a fresh key because it came after the step was over. */
  retries?: number;
}

/** How many times a kill that found its step over is made again (each on a fresh key, a cycle of its own). */
const MISSED_KILL_RETRIES = 2;

async function runCycle(stack: FaultStack, ledger: Ledger, cycle: Cycle, log: (line: string) => void): Promise<RunRecord[]> {
  const key = uniqueName('kill-');
  const launched: Array<{ step: string; outcome: Promise<KillOutcome> }> = [];
  const arm = async (at: Trigger): Promise<void> => {
    for (const kill of cycle.kills.filter((candidate) => candidate.armAt === at)) {
      log(`${key}: kill during ${kill.step} armed`);
      const outcome = killDuringStep(stack, { key, ...(await kill.plan(key)) }, log);
      // Nobody waits for it yet: a failure must not go unhandled in the meantime.
      outcome.catch(() => undefined);
      launched.push({ step: kill.step, outcome });
    }
  };
  const idle = () => eventually(async () => ((await keyView(stack, key)).working === null ? true : undefined), `${key} to be idle`, 180_000);

  const created = await stack.api('POST', '/keys', { name: key, type: cycle.keyType, policy: SHORT_POLICY, reason: `fault scenario: ${cycle.kills.map((kill) => kill.step).join(', ')}` });
  if (created.status !== 202) throw new Error(`creating ${key} answered ${created.status}: ${JSON.stringify(created.body)}`);
  ledger.acknowledged.push({ key, version: 1 });
  // Arming reads the key's workflow, so it follows the create; an event arm counts only events written after it.
  await arm('create');
  await versionState(stack, key, 1, 'active', 240_000);
  const rotates = cycle.kills.some((kill) => kill.armAt !== 'create');
  if (rotates) {
    // The first evaluation over, the rotation is the key's only work.
    await idle();
    await arm('rotate');
    const rotated = await stack.api('POST', `/keys/${key}/rotate`, { reason: 'fault scenario' });
    if (rotated.status !== 200) throw new Error(`rotating ${key} answered ${rotated.status}: ${JSON.stringify(rotated.body)}`);
    ledger.acknowledged.push({ key, version: (rotated.body as { version: number }).version });
    await arm('after-rotate');
  }
  const outcomes = await Promise.all(launched.map(async ({ step, outcome }) => ({ step, outcome: await outcome })));
  // The cycle runs on to its end: v1 purged when the key rotated, otherwise idle with v1 active.
  if (rotates) await versionState(stack, key, 1, 'purged', 240_000);
  else await idle();
  const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes }, ledger);
  for (const witness of counts.witnesses) log(`  ${witness}`);
  return outcomes.map(({ step, outcome }) => ({ step, outcome, counts }));
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
        ...mine.flatMap((record) => (record.retries ? [`${record.step}: made again ${record.retries} time(s) on a fresh key (the step was over before the freeze)`] : [])),
        ...(missed > 0 ? [`${missed} kill(s) found no attempt held by the victim`] : []),
        ...mine.flatMap((record) => record.counts.witnesses),
      ],
    };
  });
}

export async function runWorkerKills(options: { quick: boolean; log: (line: string) => void; only?: string[]; stack?: FaultStack }): Promise<ScenarioResult[]> {
  const stack = options.stack ?? (await startFaultStack({ nodes: 3, log: options.log }));
  const ledger: Ledger = { acknowledged: [] };
  const records: RunRecord[] = [];
  try {
    for (const cycle of cycles(stack, options.quick, options.only)) {
      let done = await runCycle(stack, ledger, cycle, options.log);
      // A step quicker than the freeze (a recording the live control worker runs the moment its workflow task schedules
      // it) can be over before the victim stops, and a step that comes once per key (v1's activation) gives no second
      // chance. Such a kill proved nothing either way: it is made again, on a fresh key, until it catches its attempt.
      for (let retry = 1; retry <= MISSED_KILL_RETRIES; retry += 1) {
        const missed = cycle.kills.filter((kill) => done.some((record) => record.step === kill.step && !record.outcome.caught));
        if (missed.length === 0) break;
        options.log(`retry ${retry}: the kill during ${missed.map((kill) => kill.step).join(', ')} found the step over; again on a fresh key`);
        const again = await runCycle(stack, ledger, { keyType: cycle.keyType, kills: missed }, options.log);
        done = [...done.filter((record) => !missed.some((kill) => kill.step === record.step)), ...again.map((record) => ({ ...record, retries: retry }))];
      }
      records.push(...done);
    }
  } finally {
    if (!options.stack) await stack.stop();
  }
  return summarise('worker-kills', records);
}

export const scenario: FaultScenario = {
  name: 'worker-kills',
  // KEYROTOR_FAULTS_STEPS=publish,control runs only the kills whose step starts with one of these words.
  run: (options) => runWorkerKills({ ...options, ...(process.env.KEYROTOR_FAULTS_STEPS ? { only: process.env.KEYROTOR_FAULTS_STEPS.split(',') } : {}) }),
};
