import { expectedHolding } from './build';
import { listingCovers, matchedKnows } from './plan';
import type { Holding, KeyMapSource, NodeInspection, NodeObservation } from './types';

export interface HoldingRow extends Holding {
  name: string;
  version: number;
  nodeId: string;
}

export interface HoldingChanges {
  upsert: HoldingRow[];
  remove: Array<{ name: string; version: number; nodeId: string }>;
}

const sameHolding = (a: Holding, b: Holding): boolean => a.privateKey === b.privateKey && a.publicKey === b.publicKey && a.canSign === b.canSign;

/**
 * The holdings rows that must change after a sync: what the reachable nodes were found to hold, against what the map
 * recorded. Only real differences come out, so an unchanged cluster writes nothing (and bumps no epoch). Unreachable
 * nodes, and keys that changed after the epoch a node's unlisted buckets matched, keep what was recorded.
 */
export function holdingChanges(source: KeyMapSource, observations: readonly NodeObservation[]): HoldingChanges {
  const recorded = new Map(source.holdings.map((row) => [`${row.name}/${row.version}/${row.nodeId}`, row]));
  const upsert: HoldingRow[] = [];
  const remove: HoldingChanges['remove'] = [];
  const inspections = observations.filter((observation): observation is NodeInspection => observation.reachable);
  for (const inspection of inspections) {
    const byId = new Map<string, Holding>();
    for (const entry of inspection.inventory ?? []) {
      const held = byId.get(entry.id) ?? { privateKey: false, publicKey: false, canSign: null };
      if (entry.class === 'privateKey') byId.set(entry.id, { ...held, privateKey: true, canSign: entry.canSign });
      else if (entry.class === 'publicKey') byId.set(entry.id, { ...held, publicKey: true });
    }
    for (const key of source.keys) {
      for (const version of key.versions) {
        const listed = listingCovers(inspection, version.fingerprint);
        if (!listed && !matchedKnows(inspection, key)) continue;
        const found = listed ? byId.get(version.fingerprint) ?? null : expectedHolding(version.state);
        const desired = found && (found.privateKey || found.publicKey) ? { ...found, canSign: found.privateKey ? found.canSign : null } : null;
        const id = { name: key.name, version: version.version, nodeId: inspection.nodeId };
        const current = recorded.get(`${id.name}/${id.version}/${id.nodeId}`);
        if (desired && (!current || !sameHolding(current, desired))) upsert.push({ ...id, ...desired });
        if (!desired && current) remove.push(id);
      }
    }
  }
  return { upsert, remove };
}
