import { isCleanText, parseTimestamp } from '../input-bounds';
import { KEY_NAME_PATTERN } from '../keys/key-model';
import type { RowProblem } from '../usage/events';

export const THREAT_SCOPES = ['key', 'app', 'all'] as const;
export type ThreatScope = (typeof THREAT_SCOPES)[number];

/**
 * Named severities as feeds and analysts give them, on the 0–1 scale the risk score combines. With the default threat
 * weight (0.9) a live `critical` indicator alone takes a key past the default risk threshold (0.8); `high` alone does not.
 */
export const SEVERITY_LEVELS = { low: 0.2, medium: 0.5, high: 0.8, critical: 1 } as const;
export type SeverityLevel = keyof typeof SEVERITY_LEVELS;
const LEVEL_NAMES = Object.keys(SEVERITY_LEVELS) as SeverityLevel[];

export const MAX_INDICATORS = 10_000;

/** One indicator after validation: severity on the 0–1 scale (with the level it was given as, if any), time normalised. */
export interface ValidIndicator {
  id: string;
  severity: number;
  /** The named level the severity was given as; null when it was given as a number. */
  severityLevel: SeverityLevel | null;
  scope: ThreatScope;
  /** A key name (scope key) or an application (scope app); null for scope all. */
  target: string | null;
  expiresAt: string;
  source: string;
}

// Ids appear in URLs (DELETE /threat-intel/:id): no slashes, spaces or query characters.
export const INDICATOR_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$/;
/** The longest application name (scope app) and source. */
export const INDICATOR_TEXT_MAX_LENGTH = 200;
const FIELDS = ['id', 'severity', 'scope', 'target', 'expiresAt', 'source'];

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The indicators of a body or a feed document: an array, or `{"indicators": [...]}`. */
export function indicatorsOf(document: unknown): unknown {
  return isObject(document) && Array.isArray(document.indicators) ? document.indicators : document;
}

function severityOf(value: unknown): { severity: number; severityLevel: SeverityLevel | null } | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 && value <= 1 ? { severity: value, severityLevel: null } : undefined;
  if (typeof value === 'string' && Object.hasOwn(SEVERITY_LEVELS, value)) return { severity: SEVERITY_LEVELS[value as SeverityLevel], severityLevel: value as SeverityLevel };
  return undefined;
}

/**
 * Checks a batch of indicators `{id, severity, scope, target, expiresAt, source}`. Every bad row is named with every
 * reason; a batch with a bad row yields no indicators, so nothing of it is stored. An indicator that has already
 * expired is valid: it is kept, and does not count.
 */
export function validateIndicatorBatch(raw: unknown): { indicators: ValidIndicator[]; problems: RowProblem[] } {
  if (!Array.isArray(raw)) return { indicators: [], problems: [{ row: -1, problems: ['the body must be an array of indicators (or {"indicators": [...]})'] }] };
  if (raw.length === 0 || raw.length > MAX_INDICATORS) {
    return { indicators: [], problems: [{ row: -1, problems: [`a batch holds 1 to ${MAX_INDICATORS} indicators, not ${raw.length}`] }] };
  }
  const indicators: ValidIndicator[] = [];
  const problems: RowProblem[] = [];
  const seenIds = new Set<string>();
  raw.forEach((entry: unknown, row) => {
    if (!isObject(entry)) {
      problems.push({ row, problems: ['must be an object'] });
      return;
    }
    const rowProblems: string[] = [];
    for (const key of Object.keys(entry)) if (!FIELDS.includes(key)) rowProblems.push(`unknown field '${key}'`);
    const id = entry.id;
    if (typeof id !== 'string' || !INDICATOR_ID_PATTERN.test(id)) {
      rowProblems.push("id must be 1–200 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit");
    } else {
      if (seenIds.has(id)) rowProblems.push(`id '${id}' appears twice in the batch`);
      seenIds.add(id);
    }
    const severity = severityOf(entry.severity);
    if (!severity) rowProblems.push(`severity must be a number from 0 to 1 or one of ${LEVEL_NAMES.join(', ')}`);
    const scope = entry.scope;
    const target = entry.target;
    if (!(THREAT_SCOPES as readonly unknown[]).includes(scope)) rowProblems.push(`scope must be one of ${THREAT_SCOPES.join(', ')}`);
    else if (scope === 'all' && target !== undefined && target !== null) rowProblems.push('scope all applies to every key: give no target');
    else if (scope === 'key' && (typeof target !== 'string' || !KEY_NAME_PATTERN.test(target))) rowProblems.push('scope key needs a target that is a key name');
    else if (scope === 'app' && !isCleanText(target, INDICATOR_TEXT_MAX_LENGTH)) rowProblems.push('scope app needs a target that is an application (1–200 characters)');
    // A time without its zone would be read in the server's zone: the zone is required.
    const expiresAt = parseTimestamp(entry.expiresAt);
    if (Number.isNaN(expiresAt)) rowProblems.push('expiresAt must be an ISO 8601 time with its zone (for example 2026-07-01T00:00:00Z)');
    const source = entry.source;
    if (!isCleanText(source, INDICATOR_TEXT_MAX_LENGTH)) rowProblems.push('source must be a non-empty string (up to 200 characters)');
    if (rowProblems.length > 0) {
      problems.push({ row, problems: rowProblems });
      return;
    }
    indicators.push({
      id: id as string,
      ...(severity as { severity: number; severityLevel: SeverityLevel | null }),
      scope: scope as ThreatScope,
      target: scope === 'all' ? null : (target as string),
      expiresAt: new Date(expiresAt).toISOString(),
      source: source as string,
    });
  });
  return { indicators: problems.length > 0 ? [] : indicators, problems };
}
