import { CLUSTER_WRAPPING_KEY_LABELS, type ClusterWrappingKeyLabel } from './identifiers';

/** A cluster wrapping key as provisioning found it on every node, or made it there now. */
export interface WrappingKeyOnNodes {
  state: 'present' | 'created';
  /** The first three bytes of AES-ECB(key, 0^16), hex: the same on every node. */
  checkValue: string;
}

export interface WrappingKeysVerdict {
  /** Check values to record: keys seen for the first time, or new ones that no recorded key version depends on. */
  record: Array<{ label: ClusterWrappingKeyLabel; checkValue: string }>;
  /** Why the start must stop; empty when it may go on. */
  problems: string[];
}

/**
 * Compares the cluster wrapping keys the nodes hold with the check values the database recorded. Every key the
 * database lists (a version not purged, the key map's signing key) was replicated, and archived, under the recorded
 * keys, and their value never leaves the HSMs: nodes holding other keys (every token lost or replaced, and
 * provisioning made new ones, which it does when no node holds a key) cannot unwrap a replica or an archive of any of
 * them. While any key is at stake, that stops the start, and so does a key provisioning made just now, which cannot
 * have wrapped any of them, whatever was recorded (a database from before this check). With none at stake, the keys
 * the nodes hold are recorded, as are keys never recorded that were there before this start.
 */
export function judgeWrappingKeys(input: {
  recorded: Partial<Record<ClusterWrappingKeyLabel, string>>;
  onNodes: Record<ClusterWrappingKeyLabel, WrappingKeyOnNodes>;
  /** Keys the database lists that depend on the cluster wrapping keys: versions not purged, the map-signing key. */
  keysAtStake: number;
}): WrappingKeysVerdict {
  const verdict: WrappingKeysVerdict = { record: [], problems: [] };
  for (const label of CLUSTER_WRAPPING_KEY_LABELS) {
    const recorded = input.recorded[label];
    const held = input.onNodes[label];
    if (recorded === held.checkValue) continue;
    const replaced = recorded !== undefined || held.state === 'created';
    if (input.keysAtStake === 0 || !replaced) {
      verdict.record.push({ label, checkValue: held.checkValue });
      continue;
    }
    const how = held.state === 'created' ? ', made by this start because no node held one' : '';
    const was = recorded === undefined ? '' : `, not the ${recorded} recorded`;
    verdict.problems.push(
      `the nodes hold a ${label} with check value ${held.checkValue}${how}${was}, while the database lists ${input.keysAtStake} key(s) kept under ` +
        `the cluster's wrapping keys (versions not purged, the key map's signing key): the tokens that held them were lost or replaced. Stop here: ` +
        `restore every node's token from a backup (removing any token made since) and start again. Nothing keyrotor keeps can make those keys ` +
        `again; to give them up and start over, use an empty database as well as new tokens`,
    );
  }
  return verdict;
}
