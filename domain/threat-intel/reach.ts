import type { ThreatScope } from './indicators';

/** Where an indicator applies: a key by name, the keys an application uses, or every key (target null). */
export interface IndicatorReach {
  scope: ThreatScope;
  target: string | null;
}

/** What of an indicator the risk score reads: its reach, its severity, and whether it is live. */
export interface ScoredIndicator extends IndicatorReach {
  severity: number;
  expiresAt: string;
}

/** One stored indicator as it was before an upsert (null: it is new) and as it is after. */
export interface IndicatorChange {
  before: ScoredIndicator | null;
  after: ScoredIndicator;
}

const isLive = (indicator: ScoredIndicator | null, nowMs: number): indicator is ScoredIndicator =>
  indicator !== null && Date.parse(indicator.expiresAt) > nowMs;

/**
 * The reaches whose keys' threat component a batch of changes may have moved, each once. The component combines the
 * severities of the live indicators that apply to a key; so a change counts when an indicator becomes live, stops being
 * live, or changes severity or reach while live. A feed that re-publishes its indicators with a later expiry, a new
 * source or the same severity under another name moves no score, and reaches no key: otherwise every pull of such a
 * feed would re-evaluate every key it names. A retargeted indicator reaches both its old and its new keys.
 */
export function reachOfChanges(changes: readonly IndicatorChange[], nowMs: number): IndicatorReach[] {
  const reach = new Map<string, IndicatorReach>();
  const add = ({ scope, target }: IndicatorReach): void => {
    reach.set(JSON.stringify([scope, target]), { scope, target });
  };
  for (const { before, after } of changes) {
    const liveBefore = isLive(before, nowMs) ? before : null;
    const liveAfter = isLive(after, nowMs) ? after : null;
    if (liveBefore && liveAfter && liveBefore.severity === liveAfter.severity && liveBefore.scope === liveAfter.scope && liveBefore.target === liveAfter.target) continue;
    if (liveBefore) add(liveBefore);
    if (liveAfter) add(liveAfter);
  }
  return [...reach.values()];
}
