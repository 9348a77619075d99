import type { DriftItem, NodeDrift } from './plan';

/** Drift items kept per node in results and records: a node that lost everything would otherwise list thousands. */
export const DRIFT_ITEMS_KEPT = 100;

export interface DriftSummary {
  inventory: NodeDrift['inventory'];
  total: number;
  byKind: Record<string, number>;
  /** The first DRIFT_ITEMS_KEPT items. */
  items: DriftItem[];
}

/** How much drift of which kind a node showed, with the first items. Imports nothing, so workflow code may use it. */
export function summariseDrift(drift: NodeDrift): DriftSummary {
  const byKind: Record<string, number> = {};
  for (const item of drift.items) byKind[item.kind] = (byKind[item.kind] ?? 0) + 1;
  return { inventory: drift.inventory, total: drift.items.length, byKind, items: drift.items.slice(0, DRIFT_ITEMS_KEPT) };
}
