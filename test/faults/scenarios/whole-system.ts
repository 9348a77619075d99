import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSecret } from '../../../adapters/secrets';
import { findSoftHsmModule, projectRoot } from '../../../scripts/tool-paths';
import { startLongRunning, type LongRunning } from '../../support/cli';
import { eventually } from '../../support/eventually';
import type { TokenAccess } from '../../support/pkcs11-listing';
import { npmStartEnvironmentIn } from '../../support/npm-start';
import { uniqueName } from '../../support/system';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { isAlive } from '../../../adapters/processes';

/**
 * Scenario 3, the whole system killed: the all-in-one `npm start` (embedded PostgreSQL, the Temporal dev server, the
 * SoftHSM tokens of its data folder, every worker and the API in one process group) is SIGKILLed as a group at a
 * random moment while its keys rotate, then started again on the same data folder, again and again. Recovery is
 * measured from the restarted system's ready line to every key's workflow recording a step again (its first audit
 * entry after the kill), and to every node's entropy harvest reporting again (GET /entropy), after which /health must
 * not say degraded.
 */

export interface WholeSystemOptions {
  kills: number;
  keys: number;
  log: (line: string) => void;
}

/** Short enough that every key keeps rotating: a grace period of seconds, the archive purged soon after. */
const POLICY = { gracePeriod: '4s', maxGracePeriod: '1m', retention: '3s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1h', publicationLead: '0s' };
const KEY_TYPES = ['ec-p256', 'rsa-2048', 'ec-p384'] as const;
const ENTROPY_INTERVAL_SECONDS = 120;
const READY_TIMEOUT_MS = 300_000;
/** How long every key may take to move after a restart before the run counts it as not recovered. */
const MOVE_TIMEOUT_MS = 180_000;
const NODES = ['hsm-1', 'hsm-2', 'hsm-3'];

interface KeyView {
  name: string;
  phase: string;
  versions: Array<{ version: number; state: string }>;
  held: unknown;
  waiting: unknown;
  working: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

function dataFolder(): string {
  const stamp = `whole-system-${process.pid}-${randomBytes(3).toString('hex')}`;
  const runDir = process.env.KEYROTOR_TEST_RUN_DIR;
  return runDir ? join(runDir, stamp) : join(projectRoot, '.keyrotor-faults', stamp);
}

export async function runWholeSystemKills(options: WholeSystemOptions): Promise<ScenarioResult> {
  const { log } = options;
  const softHsmModule = findSoftHsmModule();
  if (!softHsmModule) throw new Error('SoftHSMv2 is not installed: run `npm test` or `npm start` once, whose bootstrap installs it');
  const dataDir = dataFolder();
  const { ports, env: npmStartEnv } = await npmStartEnvironmentIn(dataDir);
  const env: Record<string, string | undefined> = { ...npmStartEnv, KEYROTOR_ENTROPY_INTERVAL_SECONDS: String(ENTROPY_INTERVAL_SECONDS) };
  const apiUrl = `http://127.0.0.1:${ports.api}`;
  let adminToken = '';
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any -- replies of several routes
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  };
  const keyNames = Array.from({ length: options.keys }, (_unused, index) => uniqueName(`whole-${index + 1}-`));
  const readKey = async (name: string): Promise<KeyView> => {
    const reply = await api('GET', `/keys/${name}`);
    if (reply.status !== 200) throw new Error(`GET /keys/${name} answered ${reply.status}`);
    return reply.body as KeyView;
  };
  const ledger: Ledger = { acknowledged: [] };
  const notes: string[] = [];
  const recoveries: number[] = [];
  const harvests: number[] = [];
  let running: LongRunning | undefined;
  let starts = 0;
  let driver: { stop: () => Promise<void> } | undefined;

  /** Rotates every key whenever it can be rotated, until stopped; only a 200 enters the ledger. */
  const driveRotations = (): { stop: () => Promise<void> } => {
    let driving = true;
    const loops = keyNames.map(async (name) => {
      while (driving) {
        try {
          const key = await readKey(name);
          if (key.phase === 'active' && !key.held && !key.waiting && !key.working) {
            const reply = await api('POST', `/keys/${name}/rotate`, { reason: 'fault suite: keep rotating' });
            if (reply.status === 200) ledger.acknowledged.push({ key: name, version: (reply.body as { version: number }).version });
          }
        } catch {
          // The system is down (killed) or restarting: nothing was acknowledged.
        }
        await sleep(300);
      }
    });
    return {
      stop: async () => {
        driving = false;
        await Promise.all(loops);
      },
    };
  };

  const start = async (): Promise<number> => {
    running = startLongRunning('npm', ['start'], env, { group: true });
    await running.waitFor(/Ctrl-C stops everything/, READY_TIMEOUT_MS);
    return Date.now();
  };

  /** Each key's audit cursor: the last seq read of the entries about it. */
  const auditCursor = new Map<string, number>();
  /** The audit entries about a key after its cursor, every page of them; the cursor moves past them. */
  const newAuditEntries = async (name: string): Promise<Array<{ seq: number; at: string; action: string }>> => {
    const entries: Array<{ seq: number; at: string; action: string }> = [];
    for (;;) {
      const after = auditCursor.get(name);
      const reply = await api('GET', `/audit?subject=${encodeURIComponent(`key/${name}`)}&limit=1000${after === undefined ? '' : `&afterSeq=${after}`}`);
      if (reply.status !== 200) throw new Error(`GET /audit for ${name} answered ${reply.status}`);
      const page = reply.body as { entries: Array<{ seq: number; at: string; action: string }>; nextAfterSeq?: number };
      entries.push(...page.entries);
      if (page.entries.length > 0) auditCursor.set(name, page.entries.at(-1)!.seq);
      if (page.nextAfterSeq === undefined || page.entries.length === 0) return entries;
    }
  };

  /**
   * From the ready line to every key's workflow recording a step again: the time of the first audit entry about the
   * key written after the kill (the driver rotates the idle keys). Every entry about a key is written by a step of its
   * workflow, so this is when the key moved, whatever the test's reads of it cost under load. Per key, for the note.
   */
  const untilEveryKeyMoves = async (killedAt: number, readyAt: number): Promise<Map<string, number>> => {
    const movedAt = new Map<string, number>();
    await eventually(async () => {
      for (const name of keyNames) {
        if (movedAt.has(name)) continue;
        const entries = await newAuditEntries(name).catch(() => []);
        const first = entries.map((entry) => Date.parse(entry.at)).filter((at) => at > killedAt).sort((a, b) => a - b)[0];
        if (first !== undefined) movedAt.set(name, first);
      }
      return movedAt.size === keyNames.length ? true : undefined;
    }, `every key recording a step again after the restart (moved: ${[...movedAt.keys()].join(', ') || 'none'})`, MOVE_TIMEOUT_MS, 500).catch((error: unknown) => {
      notes.push(`${(error as Error).message}; still: ${keyNames.filter((name) => !movedAt.has(name)).join(', ')}`);
    });
    return new Map(keyNames.map((name) => [name, Math.max(0, (movedAt.get(name) ?? Date.now()) - readyAt)]));
  };

  /** Each node's newest harvest report before the last kill. */
  const lastHarvest = new Map<string, number>();
  /** From the ready line to every node's harvest reporting again; then /health must not be degraded by entropy. */
  const untilHarvestResumes = async (readyAt: number): Promise<number> => {
    const resumedAt = await eventually(async () => {
      const reply = await api('GET', '/entropy');
      const reports = (reply.body as { nodes: Array<{ nodeId: string; at: string }> }).nodes;
      const fresh = NODES.every((node) => reports.some((report) => report.nodeId === node && Date.parse(report.at) > (lastHarvest.get(node) ?? 0)));
      return fresh ? Date.now() : undefined;
    }, 'every node\'s entropy harvest reporting after the restart', ENTROPY_INTERVAL_SECONDS * 1000 + 60_000, 1000);
    const health = await fetch(`${apiUrl}/health`);
    const body = (await health.json()) as { status: string; entropy: Array<{ nodeId: string; status: string }> };
    const stale = body.entropy.filter((pool) => pool.status !== 'fresh');
    if (stale.length > 0) notes.push(`after the harvest resumed, /health said ${body.status} with stale pools ${stale.map((pool) => pool.nodeId).join(', ')}`);
    return resumedAt - readyAt;
  };
  const rememberHarvests = async (): Promise<void> => {
    const reply = await api('GET', '/entropy').catch(() => undefined);
    for (const report of (reply?.body as { nodes?: Array<{ nodeId: string; at: string }> } | undefined)?.nodes ?? []) lastHarvest.set(report.nodeId, Date.parse(report.at));
  };

  const killGroup = async (): Promise<void> => {
    const child = running;
    if (!child) return;
    await child.stopGroup('SIGKILL', 10_000);
    // What each killed start printed stays in the data folder, for a slow recovery to be looked into.
    starts += 1;
    writeFileSync(join(dataDir, `npm-start-${starts}.log`), child.output());
    // The dev server dies with keyrotor (setpriv --pdeathsig) and the postmaster was in the group: wait until both are
    // gone, so that the next start meets the data folder as a crash left it.
    await eventually(() => (existsSync(join(dataDir, 'temporal-dev-server.pid')) && isAlive(Number(readFileSync(join(dataDir, 'temporal-dev-server.pid'), 'utf8').trim())) ? undefined : true), 'the Temporal dev server gone', 30_000);
    running = undefined;
  };

  try {
    let readyAt = await start();
    adminToken = /first admin API token \(shown once, stored only as a hash\): (kr_\S+)/.exec(running?.output() ?? '')?.[1] ?? '';
    if (!adminToken) throw new Error('the first start printed no admin token');
    for (const [index, name] of keyNames.entries()) {
      const reply = await api('POST', '/keys', { name, type: KEY_TYPES[index % KEY_TYPES.length], policy: POLICY });
      if (reply.status !== 202) throw new Error(`POST /keys ${name} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      ledger.acknowledged.push({ key: name, version: 1 });
    }
    log(`npm start is up in ${dataDir}; ${keyNames.length} keys created`);
    driver = driveRotations();
    for (let kill = 1; kill <= options.kills; kill += 1) {
      // A random moment: somewhere in the next 2–14 s of rotations.
      await sleep(2000 + Math.random() * 12_000);
      await rememberHarvests();
      // Read up to now, so that the entries after the restart are the next pages.
      for (const name of keyNames) await newAuditEntries(name);
      await killGroup();
      const killedAt = Date.now();
      log(`kill ${kill}/${options.kills}: SIGKILLed the process group`);
      readyAt = await start();
      const perKey = await untilEveryKeyMoves(killedAt, readyAt);
      const recovery = Math.max(...perKey.values());
      recoveries.push(recovery);
      log(`kill ${kill}: ready again; every key recorded a step ${seconds(recovery)} s after the ready line (${[...perKey].map(([name, ms]) => `${name} ${seconds(ms)}`).join(', ')})`);
    }
    const harvest = await untilHarvestResumes(readyAt);
    harvests.push(harvest);
    log(`entropy harvest of every node reported ${seconds(harvest)} s after the last restart`);
    await driver.stop();
    driver = undefined;
    // Let the last rotations finish before the invariants are checked: no key rotating, no version pending.
    await eventually(async () => {
      const keys = await Promise.all(keyNames.map(readKey));
      return keys.every((key) => !key.working && key.versions.every((v) => v.state !== 'pending')) ? true : undefined;
    }, 'every key settled', 180_000, 1000).catch((error: unknown) => notes.push((error as Error).message));

    const nodes: Array<{ id: string } & TokenAccess> = NODES.map((id) => ({
      id,
      modulePath: softHsmModule,
      tokenLabel: `keyrotor-${id}`,
      pin: readSecret({ file: join(dataDir, 'secrets', `${id}.pin`) }, `node ${id}: PIN`),
      env: { SOFTHSM2_CONF: join(dataDir, 'softhsm', 'softhsm2.conf') },
    }));
    const counts = await checkInvariants({ apiUrl, token: adminToken, temporalAddress: `127.0.0.1:${ports.temporal}`, nodes }, ledger);
    notes.push(...counts.witnesses);
    if (!counts.auditVerified) notes.push('the audit chain does not verify');
    const stopCode = await running?.stopGroup('SIGTERM', 60_000);
    writeFileSync(join(dataDir, 'npm-start-last.log'), running?.output() ?? '');
    running = undefined;
    if (stopCode !== 0) notes.push(`the last npm start exited ${String(stopCode)} on SIGTERM to its group, not 0`);
    notes.push(`recovery after each kill (s): ${recoveries.map(seconds).join(', ')}; entropy harvest after the last restart: ${harvests.map(seconds).join(', ')} s (interval ${ENTROPY_INTERVAL_SECONDS} s); ${ledger.acknowledged.length} acknowledged versions`);
    const clean = counts.completed && counts.auditVerified && harvests.every((ms) => ms <= ENTROPY_INTERVAL_SECONDS * 1000) && stopCode === 0 && !notes.some((note) => note.startsWith('timed out'));
    return {
      name: 'whole-system',
      runs: options.kills,
      completed: clean ? options.kills : 0,
      duplicates: counts.duplicates,
      orphans: counts.orphans,
      lost: counts.lost,
      stranded: counts.stranded,
      maxRecoveryS: seconds(Math.max(0, ...recoveries)),
      notes,
    };
  } finally {
    await driver?.stop();
    await running?.stopGroup('SIGKILL', 5000);
  }
}

export const scenario: FaultScenario = {
  name: 'whole-system',
  run: async ({ quick, log }) => [await runWholeSystemKills({ kills: quick ? 2 : 8, keys: quick ? 3 : 6, log })],
};
