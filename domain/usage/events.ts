import { SENSITIVITY_CLASSES, type SensitivityClass } from '../keys/policy';
import { KEY_NAME_PATTERN } from '../keys/key-model';
import { isDefinedKeyType, profileOf } from '../keys/key-types';
import { isCleanText, isStorableTime } from '../input-bounds';

export const USAGE_OPERATIONS = ['sign', 'verify', 'encrypt', 'decrypt', 'wrap', 'unwrap'] as const;
export type UsageOperation = (typeof USAGE_OPERATIONS)[number];
/** Operations with the private key: what a version's capacity counts and what the forecasts model. */
export const PRIVATE_KEY_OPERATIONS: readonly UsageOperation[] = ['sign', 'decrypt', 'unwrap'];
export const MAX_BATCH = 10_000;

/**
 * What a version's capacity (policy.capacityLimit) and its key's usage forecast count. An aes-256 key counts its
 * encryptions and wraps: the bound it guards is SP 800-38D's 2^32 GCM invocations with random IVs, which decryptions do
 * not use up. Every other type counts its private-key operations.
 */
export function capacityOperations(keyType: string): readonly UsageOperation[] {
  return isDefinedKeyType(keyType) && profileOf(keyType).keyKind === 'aes' ? ['encrypt', 'wrap'] : PRIVATE_KEY_OPERATIONS;
}
/**
 * Where a use was learned: `app-report`, an application said so (POST /usage, keyrotor ingest); `hsm-log`, an HSM access
 * log showed it (usage.accessLogs); `envelope-api`, keyrotor made it itself for a caller of its envelope API (datakey,
 * unwrap, rewrap). Readers take, per key, version, operation and hour, the largest of them: one use that an application
 * reports and keyrotor saw is counted once.
 */
export const USAGE_SOURCES = ['app-report', 'hsm-log', 'envelope-api'] as const;
export type UsageSource = (typeof USAGE_SOURCES)[number];
/** Versions are stored as PostgreSQL integers. */
export const MAX_VERSION = 2_147_483_647;
/** Bounds of an event's fields, shown in the API's schema and checked here (the feed of `keyrotor ingest` comes through the API). */
export const USAGE_FIELD_BOUNDS = { kid: 200, app: 200, node: 64, eventId: 200, ts: 64, maxCount: 1_000_000_000 } as const;

/** One usage event after validation: the version resolved, the time normalised. */
export interface UsageEvent {
  eventId: string | null;
  ts: string;
  key: string;
  version: number | null;
  kid: string | null;
  op: UsageOperation;
  app: string;
  node: string | null;
  count: number;
  sensitivity: SensitivityClass | null;
}

export interface RowProblem {
  row: number;
  problems: string[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const FIELDS = ['eventId', 'ts', 'key', 'kid', 'version', 'op', 'app', 'node', 'count', 'sensitivity'];

/**
 * Checks a batch against the shape of an access-log event. Every bad row is named with every reason, so that the
 * caller can fix the batch in one go; nothing of a batch with a bad row is stored. Events more than an hour in the
 * future are refused: they would skew the forecasts.
 */
export function validateUsageBatch(raw: unknown, nowMs: number, dataClasses: readonly string[] = SENSITIVITY_CLASSES): { events: UsageEvent[]; problems: RowProblem[] } {
  if (!Array.isArray(raw)) return { events: [], problems: [{ row: -1, problems: ['the body must be an array of events (or {"events": [...]})'] }] };
  if (raw.length === 0 || raw.length > MAX_BATCH) return { events: [], problems: [{ row: -1, problems: [`a batch holds 1 to ${MAX_BATCH} events, not ${raw.length}`] }] };
  const events: UsageEvent[] = [];
  const problems: RowProblem[] = [];
  const seenIds = new Set<string>();
  raw.forEach((entry: unknown, row) => {
    const rowProblems: string[] = [];
    if (!isObject(entry)) {
      problems.push({ row, problems: ['must be an object'] });
      return;
    }
    for (const key of Object.keys(entry)) if (!FIELDS.includes(key)) rowProblems.push(`unknown field '${key}'`);
    const ts = typeof entry.ts === 'string' && entry.ts.length <= USAGE_FIELD_BOUNDS.ts ? Date.parse(entry.ts) : Number.NaN;
    if (Number.isNaN(ts)) rowProblems.push('ts must be an ISO 8601 time');
    else if (!isStorableTime(ts)) rowProblems.push('ts must be in the years 0001 to 9999');
    else if (ts > nowMs + 3_600_000) rowProblems.push('ts is more than an hour in the future');
    const key = typeof entry.key === 'string' ? entry.key : '';
    if (!KEY_NAME_PATTERN.test(key)) rowProblems.push('key must be a key name');
    const version = entry.version;
    const kid = entry.kid;
    if (version === undefined && kid === undefined) rowProblems.push('give kid or version');
    if (version !== undefined && !(Number.isInteger(version) && (version as number) > 0 && (version as number) <= MAX_VERSION)) rowProblems.push('version must be a positive whole number');
    if (kid !== undefined && !isCleanText(kid, USAGE_FIELD_BOUNDS.kid)) rowProblems.push('kid must be a string (1–200 characters of text without control characters)');
    const op = entry.op;
    if (!(USAGE_OPERATIONS as readonly unknown[]).includes(op)) rowProblems.push(`op must be one of ${USAGE_OPERATIONS.join(', ')}`);
    const app = entry.app;
    if (!isCleanText(app, USAGE_FIELD_BOUNDS.app)) rowProblems.push('app must be a non-empty string (up to 200 characters of text without control characters)');
    const node = entry.node;
    if (node !== undefined && node !== '' && !isCleanText(node, USAGE_FIELD_BOUNDS.node)) rowProblems.push('node must be a node id (up to 64 characters of text without control characters)');
    const count = entry.count ?? 1;
    if (!(Number.isInteger(count) && (count as number) > 0 && (count as number) <= USAGE_FIELD_BOUNDS.maxCount)) rowProblems.push('count must be a whole number from 1 to 1,000,000,000');
    const sensitivity = entry.sensitivity;
    if (sensitivity !== undefined && !(dataClasses as readonly unknown[]).includes(sensitivity)) rowProblems.push(`sensitivity must be one of ${dataClasses.join(', ')}`);
    const eventId = entry.eventId;
    if (eventId !== undefined && !isCleanText(eventId, USAGE_FIELD_BOUNDS.eventId)) rowProblems.push('eventId must be a non-empty string (up to 200 characters of text without control characters)');
    if (typeof eventId === 'string') {
      if (seenIds.has(eventId)) rowProblems.push(`eventId '${eventId}' appears twice in the batch`);
      seenIds.add(eventId);
    }
    if (rowProblems.length > 0) {
      problems.push({ row, problems: rowProblems });
      return;
    }
    events.push({
      eventId: (eventId as string | undefined) ?? null,
      ts: new Date(ts).toISOString(),
      key,
      version: (version as number | undefined) ?? null,
      kid: (kid as string | undefined) ?? null,
      op: op as UsageOperation,
      app: app as string,
      node: (node as string | undefined) ?? null,
      count: count as number,
      sensitivity: (sensitivity as SensitivityClass | undefined) ?? null,
    });
  });
  return { events: problems.length > 0 ? [] : events, problems };
}
