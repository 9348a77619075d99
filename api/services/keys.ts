import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Database } from '../../adapters/postgres/database';
import { getKey, listKeys, reserveKey } from '../../adapters/postgres/key-repository';
import { keyUsageSeries, latestEvaluations, latestForecast, riskHistory, riskTrends, type RiskHistoryItem } from '../../adapters/postgres/prediction-repository';
import { usageBySource } from '../../adapters/postgres/usage-repository';
import { NotFoundError, UserError } from '../../domain/errors';
import { WORKFLOW_TYPES, keyWorkflowId } from '../../domain/identifiers';
import { formatDuration, parseDuration } from '../../domain/keys/durations';
import { validateKeyName, validateKeyType, type KeyType } from '../../domain/keys/key-model';
import { defaultCapacityLimit } from '../../domain/keys/key-types';
import { checkText } from '../../domain/input-bounds';
import { KEY_WORKFLOW_TASK_TIMEOUT_MS } from '../../domain/step-timeouts';
import type { MachineView, RotationAccepted } from '../../domain/keys/lifecycle-machine';
import { minDecryptionVersion, newKeyState, versionUsage, type KeyLifecycleState, type PredictionSummary } from '../../domain/keys/lifecycle-state';
import { predictionOf } from '../../domain/keys/prediction';
import type { AnomalyReport } from '../../domain/prediction/anomaly';
import type { KeyForecast } from '../../domain/prediction/forecaster';
import { HOUR_MS } from '../../domain/prediction/series';
import { USAGE_SOURCES, capacityOperations, type UsageSource } from '../../domain/usage/events';
import { DEFAULT_POLICY, policyDurations, resolvePolicy, type KeyPolicy } from '../../domain/keys/policy';
import {
  completeGraceUpdate,
  decommissionKeyUpdate,
  raiseMinDecryptionUpdate,
  evaluateKeyUpdate,
  extendGracePeriodUpdate,
  keyNameSearchAttribute,
  keyPhaseSearchAttribute,
  keyStateQuery,
  resumeKeyUpdate,
  rotateKeyUpdate,
  startRotationUpdate,
  updatePolicyUpdate,
  type CompleteGraceResult,
  type RotateKeyResult,
} from '../../workflows/key-messages';
import type { keyLifecycleWorkflow } from '../../workflows/key-lifecycle';
import { executeUpdateOnItsRun, type UndecidedListener } from '../../adapters/temporal/updates';
import { fromUpdateFailure } from '../errors';
import { idempotent, type Answer } from '../idempotency';
import type { Defaulted } from '../schemas/bounds';
import type { KeyUsage } from '../schemas/key-usage';
import type { KeyDetail, KeyList, KeyListQuery, KeyPredictionReply } from '../schemas/keys';
import type { RiskHistory, RiskTrends } from '../schemas/prediction';

/** The prediction block of a key: its latest evaluation's, or what the policy alone says (see predictionOf). */
function keyPrediction(key: { policy: Record<string, unknown>; nextRotationAt: string | null }, latest: RiskHistoryItem | undefined): KeyPredictionReply {
  const evaluated = latest && {
    riskScore: latest.score,
    predictedRotationAt: latest.predictedRotationAt,
    predictedTrigger: latest.predictedTrigger,
    nextEvaluationAt: latest.nextEvaluationAt,
    evaluatedAt: latest.evaluatedAt,
    reason: latest.reason,
  };
  return { ...predictionOf(key, evaluated ?? null), riskThreshold: latest?.threshold ?? (key.policy.riskThreshold as number) };
}

/** What the key routes do: thin glue between the request, PostgreSQL (what was recorded) and the key's workflow. */
export class KeyService {
  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    /** The configured data classes (prediction.sensitivityWeights): a policy must name one of them. */
    private readonly dataClasses: readonly string[],
    private readonly controlTaskQueue: string,
    /** usage.rawRetention: the end-of-grace usage check counts raw signing events over at most maxGracePeriod. */
    private readonly rawRetentionMs: number,
    /** Hears of each Update call that ended without its outcome and is made again (the API logs and counts them). */
    private readonly onUndecided: UndecidedListener = () => undefined,
  ) {}

  /** An Update of the key's workflow, answered by the run that accepted it (adapters/temporal/updates.ts). */
  private update<Ret, Args extends [unknown, ...unknown[]]>(name: string, update: UpdateDefinition<Ret, Args>, args: Args, updateId?: string): Promise<Ret> {
    return executeUpdateOnItsRun(this.handle(name), update, { args, ...(updateId ? { updateId } : {}), onUndecided: this.onUndecided });
  }

  /**
   * A grace period that can outlast the raw usage events would let the end-of-grace check count signatures whose events
   * were already deleted, and call a version unused that applications still sign with.
   */
  private checkGraceAgainstRetention(policy: KeyPolicy): void {
    const maxGraceMs = policyDurations(policy).maxGracePeriodMs;
    if (maxGraceMs > this.rawRetentionMs) {
      throw new UserError('grace_outlasts_usage_retention', `policy.maxGracePeriod (${policy.maxGracePeriod}) must not exceed usage.rawRetention (${formatDuration(this.rawRetentionMs)}): the end-of-grace check counts raw signing events, and older ones are deleted; shorten maxGracePeriod or raise KEYROTOR_USAGE_RAW_RETENTION`);
    }
  }

  private checkDataClass(policy: Partial<KeyPolicy> | undefined): void {
    const sensitivity = policy?.sensitivity;
    if (sensitivity !== undefined && !this.dataClasses.includes(sensitivity)) {
      throw new UserError('unknown_sensitivity_class', `policy.sensitivity: '${sensitivity}' is not a configured data class (known: ${this.dataClasses.join(', ')})`);
    }
  }

  private handle(name: string): WorkflowHandle<typeof keyLifecycleWorkflow> {
    return this.temporal.workflow.getHandle<typeof keyLifecycleWorkflow>(keyWorkflowId(name));
  }

  /** The key as recorded, or a 404; a decommissioned key is refused for changes with a 409. */
  private async requireKey(name: string, forChange: boolean): Promise<NonNullable<Awaited<ReturnType<typeof getKey>>>> {
    validateKeyName(name);
    const found = await getKey(this.db, name);
    if (!found) throw new NotFoundError('key', name);
    if (forChange && (found.key.phase === 'decommissioned' || found.key.phase === 'decommissioning')) {
      throw new UserError('key_decommissioned', `key ${name} is decommissioned; create a key with another name`);
    }
    return found;
  }

  async create(input: { name: string; type: string; policy?: Partial<KeyPolicy>; reason?: string; actor: string }): Promise<{ name: string; workflowId: string; policy: KeyPolicy }> {
    const name = validateKeyName(input.name);
    const keyType = validateKeyType(input.type);
    if (input.reason !== undefined) checkText(input.reason, 'reason');
    this.checkDataClass(input.policy);
    // A key type with a capacity of its own (aes-256: 2^32 GCM invocations) has it unless the creator says otherwise.
    const policy = resolvePolicy(input.policy ?? {}, { ...DEFAULT_POLICY, capacityLimit: defaultCapacityLimit(keyType) });
    this.checkGraceAgainstRetention(policy);
    const state: KeyLifecycleState = newKeyState({ name, keyType, policy, actor: input.actor, now: new Date().toISOString() });
    const workflowId = keyWorkflowId(name);
    await this.db.transaction(async (tx) => {
      if (!(await reserveKey(tx, { name, keyType, policy, actor: input.actor }))) {
        throw new UserError('key_exists', `a key named ${name} exists (or existed: names are never reused)`);
      }
      try {
        await this.temporal.workflow.start(WORKFLOW_TYPES.keyLifecycle, {
          taskQueue: this.controlTaskQueue,
          workflowId,
          args: [{ state, reason: input.reason ?? 'key created' }],
          workflowTaskTimeout: KEY_WORKFLOW_TASK_TIMEOUT_MS,
          typedSearchAttributes: [
            { key: keyNameSearchAttribute, value: name },
            { key: keyPhaseSearchAttribute, value: 'creating' },
          ],
          staticSummary: `key ${name} (${keyType})`,
          staticDetails: `lifecycle of ${name}: generate, replicate, distribute, grace, archive, verify, purge`,
        });
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) throw new UserError('key_exists', `a workflow for key ${name} exists already`);
        throw error;
      }
    });
    return { name, workflowId, policy };
  }

  /** A page of keys as recorded, each with its prediction. */
  async list(query: Defaulted<KeyListQuery, 'limit' | 'offset'>): Promise<KeyList> {
    const page = await listKeys(this.db, query);
    const latest = await latestEvaluations(this.db, page.keys.map((key) => key.name));
    return { ...page, keys: page.keys.map((key) => ({ ...key, prediction: keyPrediction(key, latest.get(key.name)) })) };
  }

  /**
   * The recorded key with its versions and prediction, and what only its workflow knows: the grace cap, the next
   * evaluation, a hold. Where the workflow cannot say (decommissioned, or not answering now), the record speaks.
   */
  async describe(name: string): Promise<KeyDetail> {
    const recorded = await this.requireKey(name, false);
    const [live, latest] = await Promise.all([this.liveView(name, recorded.key.phase), latestEvaluations(this.db, [name])]);
    const shape = { keyType: recorded.key.keyType as KeyType, policy: resolvePolicy(recorded.key.policy, DEFAULT_POLICY), versions: recorded.versions };
    const usage = new Map((versionUsage(shape) ?? []).map((u) => [u.version, u]));
    return {
      ...recorded.key,
      prediction: keyPrediction(recorded.key, latest.get(name)),
      workflowId: keyWorkflowId(name),
      versions: recorded.versions.map((v) => {
        const may = usage.get(v.version);
        return may ? { ...v, mayEncrypt: may.encrypt && may.wrap, mayDecrypt: may.decrypt && may.unwrap } : v;
      }),
      minDecryptionVersion: minDecryptionVersion(shape),
      deadlines: {
        graceDeadline: live?.graceDeadline ?? recorded.versions.find((v) => v.state === 'retiring')?.graceDeadline ?? null,
        graceCap: live?.graceCap ?? null,
        nextRotationAt: live?.nextRotationAt ?? recorded.key.nextRotationAt,
        nextEvaluationAt: live?.nextEvaluationAt ?? null,
        nextEvaluation: live?.nextEvaluation ?? null,
      },
      held: live?.held ?? null,
      waiting: live?.waiting ?? null,
      working: live?.working ?? null,
    };
  }

  /** A key's risk evaluations, newest first. */
  async riskHistory(name: string, query: { limit: number; before?: Date }): Promise<RiskHistory> {
    await this.requireKey(name, false);
    return { key: name, items: await riskHistory(this.db, name, query) };
  }

  /** A key's hourly use, the newest `hours` of it, and the forecast and anomaly report of its latest risk evaluation. */
  async usage(name: string, hours: number): Promise<KeyUsage> {
    const { key } = await this.requireKey(name, false);
    const nowMs = Date.now();
    // One snapshot: the series, its hours by source and the uses must count the same events, never some of them
    // before a read of the access logs committed and the rest after.
    const { series, from, since, bySource } = await this.db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const hourly = await keyUsageSeries(tx, { key: name, createdAt: key.createdAt, nowMs, operations: capacityOperations(key.keyType) });
      const first = Math.max(0, hourly.counts.length - hours);
      const start = hourly.startMs + first * HOUR_MS;
      return { series: hourly, from: first, since: start, bySource: await usageBySource(tx, { key: name, since: new Date(start) }) };
    });
    const hourOf = new Map(bySource.hourly.map((row) => [`${row.hour}/${row.source}`, row.count]));
    const actual = series.counts.slice(from).map((count, i) => {
      const hour = since + i * HOUR_MS;
      return { at: new Date(hour).toISOString(), count, bySource: Object.fromEntries(USAGE_SOURCES.map((source) => [source, hourOf.get(`${hour}/${source}`) ?? 0])) as Record<UsageSource, number> };
    });
    const uses = bySource.uses;
    const latest = await latestForecast(this.db, name);
    if (!latest) return { key: name, actual, uses, evaluatedAt: null, forecast: null, anomalies: null };
    const forecast = latest.forecast as KeyForecast;
    const anomaly = latest.anomaly as { report: AnomalyReport | null; note: string | null };
    return {
      key: name,
      actual,
      uses,
      evaluatedAt: latest.evaluatedAt,
      forecast,
      anomalies: {
        score: anomaly.report?.score ?? 0,
        noiseModel: anomaly.report?.noiseModel ?? null,
        note: anomaly.note,
        flagged: (anomaly.report?.flagged ?? []).map((f) => ({ at: f.at, actual: f.observed, expected: f.expected, direction: f.direction, pValue: f.pValue })),
      },
    };
  }

  /** Each named key's newest risk scores, oldest first, in the order asked; names that are no key are listed apart. */
  async riskTrends(names: readonly string[], points: number): Promise<RiskTrends> {
    const found = await riskTrends(this.db, names, points);
    return {
      trends: names.flatMap((name) => {
        const trend = found.get(name);
        return trend ? [{ key: name, points: trend }] : [];
      }),
      unknown: names.filter((name) => !found.has(name)),
    };
  }

  private async liveView(name: string, phase: string): Promise<MachineView | null> {
    if (phase === 'decommissioned') return null;
    try {
      return await this.handle(name).query(keyStateQuery);
    } catch {
      // The record stays useful when the workflow cannot be asked right now.
      return null;
    }
  }

  /** `updateId`: the key's workflow answers a repeated Update id with the first outcome (Idempotency-Key, api/idempotency.ts). */
  async rotate(name: string, input: { reason: string; emergency: boolean; actor: string }, updateId?: string): Promise<RotateKeyResult> {
    await this.requireKey(name, true);
    try {
      return await this.update(name, rotateKeyUpdate, [input], updateId);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  /** The same rotation, answered once its version is recorded (Update startRotation; `Prefer: respond-async`). */
  async startRotation(name: string, input: { reason: string; emergency: boolean; actor: string }, updateId?: string): Promise<RotationAccepted> {
    await this.requireKey(name, true);
    try {
      return await this.update(name, startRotationUpdate, [input], updateId);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  /**
   * A rotation as POST /keys/:name/rotate asks for it: answered once active (200), or once recorded (202, `Prefer:
   * respond-async`); once per Idempotency-Key (api/idempotency.ts).
   */
  rotateOnce(
    name: string,
    input: { reason: string; emergency: boolean; actor: string },
    how: { respondAsync: boolean; idempotencyKey: string | undefined; tokenId: string | undefined; body: unknown },
  ): Promise<Answer<RotateKeyResult | RotationAccepted>> {
    const request = { tokenId: how.tokenId, operation: `POST /keys/${name}/rotate`, key: how.idempotencyKey, request: { body: how.body, respondAsync: how.respondAsync } };
    return idempotent<RotateKeyResult | RotationAccepted>(this.db, request, async (updateId) =>
      how.respondAsync ? { status: 202, body: await this.startRotation(name, input, updateId) } : { status: 200, body: await this.rotate(name, input, updateId) });
  }

  /** Extends the grace period through the Update extendGrace, which answers with the deadline the workflow applied. */
  async extendGrace(name: string, input: { extendBy: string; reason: string; actor: string }): Promise<{ expectedDeadline: string; cap: string | null }> {
    await this.requireKey(name, true);
    const byMs = parseDuration(input.extendBy, 'extendBy');
    try {
      const applied = await this.update(name, extendGracePeriodUpdate, [{ byMs, reason: input.reason, actor: input.actor }]);
      return { expectedDeadline: applied.deadline, cap: applied.cap };
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  /** Runs the step a held key stopped at again (Update resumeKey). */
  async resume(name: string, input: { reason: string; actor: string }): Promise<{ resumed: string }> {
    await this.requireKey(name, true);
    try {
      return await this.update(name, resumeKeyUpdate, [input]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  /** Runs a risk evaluation now through the key's workflow (Update evaluateKey); it may rotate the key. */
  async evaluate(name: string, input: { actor: string }): Promise<PredictionSummary> {
    await this.requireKey(name, true);
    try {
      return await this.update(name, evaluateKeyUpdate, [input]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  async completeGrace(name: string, input: { reason: string; actor: string }): Promise<CompleteGraceResult> {
    await this.requireKey(name, true);
    try {
      return await this.update(name, completeGraceUpdate, [input]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  /** Encryption keys: archives the decrypt-only versions below `version`; answers the key's minDecryptionVersion after. */
  async raiseMinDecryption(name: string, input: { version: number; reason?: string; actor: string }): Promise<{ minDecryptionVersion: number | null; archived: number[] }> {
    await this.requireKey(name, true);
    let result;
    try {
      result = await this.update(name, raiseMinDecryptionUpdate, [input]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
    if ('archived' in result) return result;
    const view = await this.handle(name).query(keyStateQuery);
    const archived = view.versions.filter((v) => v.version < input.version && (v.state === 'archived' || v.state === 'purged')).map((v) => v.version);
    return { minDecryptionVersion: view.minDecryptionVersion, archived };
  }

  async updatePolicy(name: string, input: { change: Partial<KeyPolicy>; actor: string }): Promise<KeyPolicy> {
    const found = await this.requireKey(name, true);
    this.checkDataClass(input.change);
    this.checkGraceAgainstRetention(resolvePolicy(input.change, resolvePolicy(found.key.policy)));
    try {
      return await this.update(name, updatePolicyUpdate, [input]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }

  async decommission(name: string, input: { confirm: string; reason: string; actor: string }): Promise<{ destroyedVersions: number[] }> {
    await this.requireKey(name, true);
    if (input.confirm !== name) throw new UserError('confirmation_mismatch', `to decommission, send {"confirm": "${name}"}: every version is destroyed on every node`);
    try {
      return await this.update(name, decommissionKeyUpdate, [{ reason: input.reason, actor: input.actor }]);
    } catch (error) {
      return fromUpdateFailure(error);
    }
  }
}
