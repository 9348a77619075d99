import { judgeWrappingKeys, type WrappingKeyOnNodes } from '../../domain/cluster-wrapping-keys';
import type { ClusterWrappingKeyLabel } from '../../domain/identifiers';
import { ConfigError } from '../../domain/errors';
import type { Database } from './database';

/**
 * Checks the cluster wrapping keys provisioning found (or made) against those the database recorded, and records what
 * judgeWrappingKeys says to. Throws a ConfigError with the problems that must stop the start.
 */
export async function reconcileClusterWrappingKeys(db: Database, onNodes: Record<ClusterWrappingKeyLabel, WrappingKeyOnNodes>): Promise<void> {
  const problems = await db.transaction(async (tx) => {
    // Two starts at once compare one after the other: the second sees what the first recorded.
    await tx.query('LOCK TABLE cluster_wrapping_keys IN SHARE ROW EXCLUSIVE MODE');
    const recorded = await tx.query<{ label: ClusterWrappingKeyLabel; check_value: string }>('SELECT label, check_value FROM cluster_wrapping_keys');
    const stake = await tx.query<{ keys: number }>(
      "SELECT (SELECT count(*) FROM key_versions WHERE state <> 'purged') + (SELECT count(*) FROM keymap_signing_key) AS keys",
    );
    const verdict = judgeWrappingKeys({
      recorded: Object.fromEntries(recorded.rows.map((row) => [row.label, row.check_value])),
      onNodes,
      keysAtStake: Number(stake.rows[0]?.keys ?? 0),
    });
    if (verdict.problems.length > 0) return verdict.problems;
    for (const { label, checkValue } of verdict.record) {
      await tx.query(
        `INSERT INTO cluster_wrapping_keys (label, check_value) VALUES ($1, $2)
         ON CONFLICT (label) DO UPDATE SET check_value = EXCLUDED.check_value, recorded_at = now()`,
        [label, checkValue],
      );
    }
    return [];
  });
  if (problems.length > 0) throw new ConfigError(problems);
}
