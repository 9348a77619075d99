import type { KeyListItem } from './api-types';

export type ScheduleKind = 'predicted-rotation' | 'age-rotation' | 'grace-end' | 'purge';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['predicted-rotation', 'age-rotation', 'grace-end', 'purge'];

export const SCHEDULE_LABELS: Record<ScheduleKind, string> = {
  'predicted-rotation': 'predicted rotation',
  'age-rotation': 'rotation by age',
  'grace-end': 'grace period ends',
  purge: 'purge',
};

export interface ScheduleEvent {
  key: string;
  kind: ScheduleKind;
  at: string;
  atMs: number;
  /** The API field the time comes from. */
  source: string;
  detail: string | null;
}

/**
 * Every deadline the keys list names, as events in time order: the predicted rotation (prediction engine), the
 * rotation by age (the workflow's timer), the end of a running grace period and the next purge. Events already past are
 * kept: a deadline in the past that nothing acted on is worth seeing.
 */
export function scheduleEvents(keys: readonly KeyListItem[]): ScheduleEvent[] {
  const events: ScheduleEvent[] = [];
  const add = (key: KeyListItem, kind: ScheduleKind, at: string | null | undefined, source: string, detail: string | null = null): void => {
    if (!at) return;
    const atMs = Date.parse(at);
    if (!Number.isNaN(atMs)) events.push({ key: key.name, kind, at, atMs, source, detail });
  };
  for (const key of keys) {
    if (key.phase === 'decommissioned' || key.phase === 'decommissioning') continue;
    const prediction = key.prediction;
    add(key, 'predicted-rotation', prediction?.predictedRotationAt, 'GET /keys keys[].prediction.predictedRotationAt', prediction?.predictedTrigger ? `trigger: ${prediction.predictedTrigger}` : null);
    add(key, 'age-rotation', key.nextRotationAt, 'GET /keys keys[].nextRotationAt', key.policy?.maxAge ? `maxAge ${key.policy.maxAge}` : null);
    add(key, 'grace-end', key.graceDeadline, 'GET /keys keys[].graceDeadline');
    add(key, 'purge', key.nextPurgeAt, 'GET /keys keys[].nextPurgeAt');
  }
  return events.sort((a, b) => a.atMs - b.atMs || a.key.localeCompare(b.key) || a.kind.localeCompare(b.kind));
}

/** The rotations coming next: each key's earliest rotation event at or after now. */
export function nextRotations(events: readonly ScheduleEvent[], nowMs: number, count: number): ScheduleEvent[] {
  const seen = new Set<string>();
  const out: ScheduleEvent[] = [];
  for (const event of events) {
    if (event.atMs < nowMs || (event.kind !== 'predicted-rotation' && event.kind !== 'age-rotation') || seen.has(event.key)) continue;
    seen.add(event.key);
    out.push(event);
    if (out.length === count) break;
  }
  return out;
}

export interface DailyCounts {
  /** Start of each UTC day, in seconds (uPlot's x). */
  days: number[];
  counts: Record<ScheduleKind, number[]>;
}

/** Events per UTC day and kind over [fromMs, fromMs + days). */
export function dailyCounts(events: readonly ScheduleEvent[], fromMs: number, days: number): DailyCounts {
  const dayMs = 86_400_000;
  const start = Math.floor(fromMs / dayMs) * dayMs;
  const counts = Object.fromEntries(SCHEDULE_KINDS.map((kind) => [kind, new Array<number>(days).fill(0)])) as Record<ScheduleKind, number[]>;
  for (const event of events) {
    const index = Math.floor((event.atMs - start) / dayMs);
    if (index >= 0 && index < days) counts[event.kind][index] = (counts[event.kind][index] ?? 0) + 1;
  }
  return { days: Array.from({ length: days }, (_, i) => (start + i * dayMs) / 1000), counts };
}

export function countByPhase(keys: readonly KeyListItem[]): Array<{ phase: string; count: number }> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key.phase, (counts.get(key.phase) ?? 0) + 1);
  const order = ['creating', 'active', 'rotating', 'grace', 'decommissioning', 'decommissioned'];
  const rank = (phase: string): number => (order.includes(phase) ? order.indexOf(phase) : order.length);
  return [...counts].map(([phase, count]) => ({ phase, count })).sort((a, b) => rank(a.phase) - rank(b.phase) || a.phase.localeCompare(b.phase));
}
