import { pkcs11Label } from '../keys/key-model';
import type { ObservedKey, ObservedUse } from './access-log';
import type { UsageOperation } from './events';

/**
 * Uses an access log showed, summed per second, operation and key as the log named it: what one read of a log hands
 * from the node's worker to the control worker, small whatever the log's rate (Temporal history holds it).
 */
export interface CountedUse {
  /** ISO 8601 to the second, UTC. */
  second: string;
  op: UsageOperation;
  count: number;
  key: ObservedKey;
}

const keyOf = (key: ObservedKey): string => (key.resolved ? `id:${key.id ?? ''}/label:${key.label ?? ''}` : `handle:${key.handle ?? ''}`);

export function countUses(uses: readonly ObservedUse[]): CountedUse[] {
  const counted = new Map<string, CountedUse>();
  for (const use of uses) {
    const second = `${use.ts.slice(0, 19)}Z`;
    const at = `${second}|${use.op}|${keyOf(use.key)}`;
    const known = counted.get(at);
    if (known) known.count += use.count;
    else counted.set(at, { second, op: use.op, count: use.count, key: use.key });
  }
  return [...counted.values()];
}

/** A version as the log can name it: by CKA_ID (the fingerprint) or by its PKCS#11 label. */
export interface NamedVersion {
  key: string;
  version: number;
  fingerprint: string;
}

/** A counted use with its key version found: what is stored, as `hsm-log`, for the log's application and node. */
export interface AttributedUse {
  ts: string;
  key: string;
  version: number;
  op: UsageOperation;
  count: number;
}

/**
 * Why uses could not be given to a version: `unresolved`, the log never showed which object the handle was (a process
 * whose start the log does not hold); `unknown`, the object is no version keyrotor knows (another application's key, or
 * one keyrotor purged and forgot).
 */
export interface Unattributed {
  why: 'unresolved' | 'unknown';
  op: UsageOperation;
  count: number;
}

/** Gives each counted use to the version whose CKA_ID (or, without one, label) the log named. */
export function attributeUses(uses: readonly CountedUse[], versions: readonly NamedVersion[]): { attributed: AttributedUse[]; unattributed: Unattributed[] } {
  const byId = new Map(versions.map((v) => [v.fingerprint.toLowerCase(), v]));
  const byLabel = new Map(versions.map((v) => [pkcs11Label(v.key, v.version), v]));
  const attributed: AttributedUse[] = [];
  const missed = new Map<string, Unattributed>();
  for (const use of uses) {
    const found = !use.key.resolved ? undefined : use.key.id !== null ? byId.get(use.key.id.toLowerCase()) : use.key.label !== null ? byLabel.get(use.key.label) : undefined;
    if (found) {
      attributed.push({ ts: use.second, key: found.key, version: found.version, op: use.op, count: use.count });
      continue;
    }
    const why = use.key.resolved ? 'unknown' : 'unresolved';
    const at = `${why}|${use.op}`;
    const known = missed.get(at);
    if (known) known.count += use.count;
    else missed.set(at, { why, op: use.op, count: use.count });
  }
  return { attributed, unattributed: [...missed.values()] };
}

/** The fingerprints and labels a batch of counted uses names, for the lookup of their versions. */
export function namesIn(uses: readonly CountedUse[]): { fingerprints: string[]; labels: string[] } {
  const fingerprints = new Set<string>();
  const labels = new Set<string>();
  for (const { key } of uses) {
    if (!key.resolved) continue;
    if (key.id !== null) fingerprints.add(key.id.toLowerCase());
    else if (key.label !== null) labels.add(key.label);
  }
  return { fingerprints: [...fingerprints], labels: [...labels] };
}
