import { eventually } from '../../support/eventually';
import { uniqueName } from '../../support/system';
import { checkInvariants, type Ledger } from '../invariants';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack, type FaultStack } from '../stack';

/**
 * Scenario 2, the servers restarted under keyrotor's production topology: the Temporal dev server (same SQLite file)
 * during a grace period and during a rotation, PostgreSQL (same data folder) during a rotation and during a burst of
 * audited API writes. Every part ends with the invariants; the grace part measures how late the grace timer fired
 * after its deadline passed while Temporal was down, the others how long after the server came back the key moved.
 */

export interface ServerRestartOptions {
  /** Restarts per part. */
  runs: number;
  /** Which parts (all by default): the bounded jest test picks one restart of each server. */
  parts?: PartName[];
  log: (line: string) => void;
}

export type PartName = 'temporal-grace' | 'temporal-rotation' | 'postgres-rotation' | 'postgres-audit';
const ALL_PARTS: PartName[] = ['temporal-grace', 'temporal-rotation', 'postgres-rotation', 'postgres-audit'];

const GRACE_SECONDS = 10;
const POLICY = { gracePeriod: `${GRACE_SECONDS}s`, maxGracePeriod: '1m', retention: '3s', maxAge: '1h', minRotationInterval: '1s', evaluationInterval: '1h', publicationLead: '0s' };
/** Temporal stays down past the grace deadline, so the timer is due the moment it is back. */
const TEMPORAL_DOWN_DURING_GRACE_MS = (GRACE_SECONDS + 5) * 1000;
const DOWN_MS = 3000;
const SETTLE_MS = 180_000;

interface VersionView { version: number; state: string; graceDeadline?: string | null }
interface KeyView { name: string; phase: string; versions: VersionView[]; working: string | null; held: unknown; waiting: unknown }

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

interface PartOutcome { recoveryMs: number; note: string }

class Parts {
  readonly ledger: Ledger = { acknowledged: [] };

  constructor(private readonly stack: FaultStack, private readonly log: (line: string) => void) {}

  async key(name: string): Promise<KeyView> {
    const reply = await this.stack.api('GET', `/keys/${name}`);
    if (reply.status !== 200) throw new Error(`GET /keys/${name} answered ${reply.status}`);
    return reply.body as KeyView;
  }

  async state(name: string, version: number): Promise<string | undefined> {
    return (await this.key(name)).versions.find((v) => v.version === version)?.state;
  }

  async until(name: string, version: number, state: string, timeoutMs = SETTLE_MS): Promise<number> {
    await eventually(async () => ((await this.state(name, version).catch(() => undefined)) === state ? true : undefined), `${name} v${version} ${state}`, timeoutMs, 200);
    return Date.now();
  }

  /** A key of its own, created (202 → v1 acknowledged) and active. */
  async createKey(part: string, type: string): Promise<string> {
    const name = uniqueName(`${part}-`);
    const reply = await this.stack.api('POST', '/keys', { name, type, policy: POLICY });
    if (reply.status !== 202) throw new Error(`POST /keys answered ${reply.status}: ${JSON.stringify(reply.body)}`);
    this.ledger.acknowledged.push({ key: name, version: 1 });
    await this.until(name, 1, 'active');
    return name;
  }

  /** The problem code of the last refused rotate call, for the note. */
  private lastRefusal = '';

  /** POST rotate; a 200 enters the ledger. Resolves with the status (0: no answer, the server went away). */
  async rotate(name: string): Promise<number> {
    try {
      const reply = await this.stack.api('POST', `/keys/${name}/rotate`, { reason: 'fault suite: server restart' });
      if (reply.status === 200) this.ledger.acknowledged.push({ key: name, version: (reply.body as { version: number }).version });
      else this.lastRefusal = `${(reply.body as { code?: string } | null)?.code ?? '?'}: ${(reply.body as { detail?: string } | null)?.detail ?? ''}`;
      return reply.status;
    } catch {
      return 0;
    }
  }

  /** Temporal restarted while the retiring version's grace timer runs; its deadline passes while Temporal is down. */
  async temporalDuringGrace(): Promise<PartOutcome> {
    const name = await this.createKey('grace', 'ec-p256');
    if ((await this.rotate(name)) !== 200) throw new Error(`the rotation of ${name} was not acknowledged`);
    const deadline = Date.parse((await this.key(name)).versions.find((v) => v.version === 1)?.graceDeadline ?? '');
    if (Number.isNaN(deadline)) throw new Error(`${name} v1 shows no grace deadline`);
    await this.stack.restartTemporal({ downMs: TEMPORAL_DOWN_DURING_GRACE_MS });
    const backAt = Date.now();
    if (backAt <= deadline) throw new Error('Temporal came back before the grace deadline: the part did not test what it should');
    // The timer fires, the end-of-grace check runs and the archive follows: v1 leaves retiring.
    await eventually(async () => ((await this.state(name, 1).catch(() => 'retiring')) !== 'retiring' ? true : undefined), `${name} v1 leaving its grace period`, SETTLE_MS, 200);
    const firedAt = Date.now();
    await this.until(name, 1, 'purged');
    const lag = firedAt - Math.max(deadline, backAt);
    return { recoveryMs: lag, note: `grace deadline passed ${seconds(backAt - deadline)} s before Temporal was back; v1 left retiring ${seconds(lag)} s after that` };
  }

  /** A server restarted while a rotation runs (a generation or a replication under way). */
  async duringRotation(server: 'temporal' | 'postgres'): Promise<PartOutcome> {
    const name = await this.createKey(`${server}-rot`, 'rsa-3072');
    const rotation = this.rotate(name);
    await eventually(async () => {
      const key = await this.key(name);
      return key.working || key.versions.some((v) => v.state === 'pending') ? true : undefined;
    }, `${name} rotating`, 60_000, 50);
    const working = (await this.key(name)).working ?? 'a pending version';
    if (server === 'temporal') await this.stack.restartTemporal({ downMs: DOWN_MS });
    else await this.stack.restartPostgres({ downMs: DOWN_MS });
    const backAt = Date.now();
    const answered = await rotation;
    // Acknowledged or not, the rotation that was under way completes: v2 becomes active.
    const activeAt = await this.until(name, 2, 'active');
    if (answered === 200 || answered === 0) await this.until(name, 1, 'purged');
    const refusal = answered !== 200 && answered !== 0 ? ` (${this.lastRefusal})` : '';
    return { recoveryMs: activeAt - backAt, note: `restarted during "${working}"; the rotate call answered ${answered || 'nothing'}${refusal}; v2 active ${seconds(activeAt - backAt)} s after ${server} was back` };
  }

  /** PostgreSQL restarted during a burst of audited writes: token creations and revocations. */
  async postgresDuringAuditWrites(): Promise<PartOutcome & { lost: number; witnesses: string[] }> {
    const created: Array<{ id: string }> = [];
    const revoked: string[] = [];
    let writing = true;
    let firstAfterBack: number | undefined;
    let backAt: number | undefined = undefined;
    const answers = new Map<string, number>();
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
      const response = await fetch(`${this.stack.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // A write that hangs is a finding too: it is counted, not waited for.
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
    };
    const count = (outcome: string): void => {
      answers.set(outcome, (answers.get(outcome) ?? 0) + 1);
    };
    const writer = async (worker: number): Promise<void> => {
      for (let i = 0; writing; i += 1) {
        try {
          const reply = await call('POST', '/tokens', { name: `fault burst ${worker}-${i}`, role: 'auditor' });
          count(`create ${reply.status}${reply.status >= 400 ? ` ${(reply.body as { code?: string } | null)?.code ?? ''}` : ''}`);
          if (reply.status === 201) {
            const id = (reply.body as { info: { id: string } }).info.id;
            created.push({ id });
            if (backAt !== undefined && firstAfterBack === undefined) firstAfterBack = Date.now();
            if (i % 3 === 0) {
              const revoke = await call('DELETE', `/tokens/${id}`);
              count(`revoke ${revoke.status}`);
              if (revoke.status === 200) revoked.push(id);
            }
          }
        } catch (error) {
          // The API could not answer: nothing was acknowledged.
          count(`no answer (${(error as Error).name})`);
        }
      }
    };
    const writers = [1, 2, 3].map(writer);
    await sleep(1500);
    await this.stack.restartPostgres({ downMs: DOWN_MS });
    backAt = Date.now();
    await eventually(() => (firstAfterBack !== undefined ? true : undefined), 'an audited write succeeding after PostgreSQL is back', 60_000, 100).catch((error: unknown) => {
      writing = false;
      const apiTail = this.stack.output('api').split('\n').slice(-15).join('\n');
      throw new Error(`${(error as Error).message}; answers: ${JSON.stringify(Object.fromEntries(answers))}; the API's last lines:\n${apiTail}`);
    });
    await sleep(1500);
    writing = false;
    await Promise.all(writers);

    // Every acknowledged write is there: the token (revoked or not) and its audit entries.
    const witnesses: string[] = [];
    const tokens = (await this.stack.api('GET', '/tokens')).body as { tokens: Array<{ id: string; revokedAt?: string | null }> };
    const listed = new Set(tokens.tokens.map((token) => token.id));
    const audited = new Map<string, Set<string>>();
    for (let afterSeq = 0; ;) {
      const page = (await this.stack.api('GET', `/audit?afterSeq=${afterSeq}&limit=1000`)).body as { entries: Array<{ seq: number; action: string; subject: string }> };
      for (const entry of page.entries) {
        if (!audited.has(entry.subject)) audited.set(entry.subject, new Set());
        audited.get(entry.subject)?.add(entry.action);
      }
      if (page.entries.length < 1000) break;
      afterSeq = page.entries[page.entries.length - 1]?.seq ?? afterSeq;
    }
    for (const { id } of created) {
      const actions = audited.get(`token/${id}`) ?? new Set();
      // A revoked token leaves the active list; its audit entries stay.
      if (!listed.has(id) && !revoked.includes(id)) witnesses.push(`lost: token ${id} was created (201) and is not listed`);
      if (!actions.has('token.created')) witnesses.push(`lost: token ${id} was created (201) and its token.created entry is missing`);
      if (revoked.includes(id) && !actions.has('token.revoked')) witnesses.push(`lost: token ${id} was revoked (200) and its token.revoked entry is missing`);
    }
    const recoveryMs = (firstAfterBack ?? Date.now()) - backAt;
    this.log(`audit burst: ${created.length} tokens created, ${revoked.length} revoked; first write ${seconds(recoveryMs)} s after PostgreSQL was back`);
    return { recoveryMs, lost: witnesses.length, witnesses, note: `answers ${JSON.stringify(Object.fromEntries(answers))}; ${created.length} token creations and ${revoked.length} revocations acknowledged around the restart; first audited write ${seconds(recoveryMs)} s after PostgreSQL was back` };
  }
}

export async function runServerRestarts(options: ServerRestartOptions): Promise<ScenarioResult[]> {
  const { log } = options;
  const stack = await startFaultStack({ log });
  const parts = new Parts(stack, log);
  const results: ScenarioResult[] = [];
  try {
    for (const part of options.parts ?? ALL_PARTS) {
      const recoveries: number[] = [];
      const notes: string[] = [];
      let extraLost = 0;
      let completed = 0;
      let duplicates = 0;
      let orphans = 0;
      let lost = 0;
      let stranded = 0;
      for (let run = 1; run <= options.runs; run += 1) {
        try {
          let outcome: PartOutcome;
          if (part === 'temporal-grace') outcome = await parts.temporalDuringGrace();
          else if (part === 'temporal-rotation') outcome = await parts.duringRotation('temporal');
          else if (part === 'postgres-rotation') outcome = await parts.duringRotation('postgres');
          else {
            const audit = await parts.postgresDuringAuditWrites();
            extraLost += audit.lost;
            notes.push(...audit.witnesses);
            outcome = audit;
          }
          recoveries.push(outcome.recoveryMs);
          notes.push(`run ${run}: ${outcome.note}`);
          log(`${part} run ${run}: ${outcome.note}`);
        } catch (error) {
          // The run did not complete; the invariants below still say what it left behind.
          notes.push(`run ${run} failed: ${(error as Error).message}`);
          log(`${part} run ${run} failed: ${(error as Error).message}`);
          recoveries.push(Number.POSITIVE_INFINITY);
        }
        const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes }, parts.ledger);
        if (counts.completed && counts.auditVerified && Number.isFinite(recoveries[recoveries.length - 1] ?? 0)) completed += 1;
        else if (!counts.auditVerified) notes.push(`run ${run}: the audit chain does not verify`);
        duplicates += counts.duplicates;
        orphans += counts.orphans;
        lost += counts.lost;
        stranded += counts.stranded;
        notes.push(...counts.witnesses.map((line) => `run ${run}: ${line}`));
      }
      results.push({
        name: `server-restarts/${part}`,
        runs: options.runs,
        completed,
        duplicates,
        orphans,
        lost: lost + extraLost,
        stranded,
        maxRecoveryS: seconds(Math.max(0, ...recoveries)),
        notes,
      });
    }
    return results;
  } finally {
    await stack.stop();
  }
}

export const scenario: FaultScenario = {
  name: 'server-restarts',
  run: ({ quick, log }) => runServerRestarts({ runs: quick ? 1 : 3, log }),
};
