import type { HarvestReport } from '../../domain/entropy/node-entropy';
import type { Database } from './database';

export interface EntropyReportRow {
  id: number;
  nodeId: string;
  at: string;
  healthy: boolean;
  snapshot: HarvestReport['snapshot'];
  sources: HarvestReport['sources'];
}

interface Raw {
  id: string;
  node_id: string;
  at: Date;
  healthy: boolean;
  snapshot: HarvestReport['snapshot'];
  sources: HarvestReport['sources'];
}

const toRow = (row: Raw): EntropyReportRow => ({ id: Number(row.id), nodeId: row.node_id, at: row.at.toISOString(), healthy: row.healthy, snapshot: row.snapshot, sources: row.sources });

export async function storeEntropyReport(db: Database, nodeId: string, report: HarvestReport): Promise<void> {
  await db.query('INSERT INTO entropy_reports (node_id, at, healthy, snapshot, sources) VALUES ($1, $2, $3, $4, $5)', [
    nodeId, report.snapshot.at, report.snapshot.healthy, JSON.stringify(report.snapshot), JSON.stringify(report.sources),
  ]);
}

/** The newest report of every node. */
export async function latestEntropyReports(db: Database): Promise<EntropyReportRow[]> {
  const { rows } = await db.query<Raw>('SELECT DISTINCT ON (node_id) * FROM entropy_reports ORDER BY node_id, at DESC');
  return rows.map(toRow);
}

export async function entropyHistory(db: Database, query: { nodeId?: string; limit: number; before?: string }): Promise<EntropyReportRow[]> {
  const { rows } = await db.query<Raw>(
    `SELECT * FROM entropy_reports WHERE ($1::text IS NULL OR node_id = $1) AND ($2::timestamptz IS NULL OR at < $2) ORDER BY at DESC LIMIT $3`,
    [query.nodeId ?? null, query.before ?? null, query.limit],
  );
  return rows.map(toRow);
}
