import { anchorEvidence, listAnchorRecords } from '../../adapters/postgres/audit-anchor-repository';
import { listAudit, verifyAudit } from '../../adapters/postgres/audit-repository';
import type { Database } from '../../adapters/postgres/database';
import type { AuditPage, AuditQuery, AuditReport } from '../schemas/audit';
import type { Defaulted } from '../schemas/bounds';

/** What the audit routes do: page through the log, and verify its hash chain and the nodes' anchors of it. */
export class AuditService {
  constructor(private readonly db: Database) {}

  /** A page of entries in sequence order; `nextAfterSeq` is there when a full page may have more after it. */
  async page(query: Defaulted<AuditQuery, 'limit'>): Promise<AuditPage> {
    const entries = await listAudit(this.db, query);
    const last = entries.at(-1);
    return { entries, ...(entries.length === query.limit && last ? { nextAfterSeq: last.seq } : {}) };
  }

  /**
   * The whole chain recomputed, and each node's anchor as the last sync checked it. The anchors are checked against the
   * log now as well: entries removed since the last sync show at once, not a minute later.
   */
  async verify(): Promise<AuditReport> {
    const [chain, records] = await Promise.all([verifyAudit(this.db), listAnchorRecords(this.db)]);
    const evidence = await anchorEvidence(this.db, records.flatMap((record) => (record.seq === null ? [] : [record.seq])));
    const anchors = records.map((record) => ({ ...record, matchesLog: record.seq !== null && evidence.entries.get(record.seq)?.hash === record.hash }));
    const anchored = chain.ok && anchors.length > 0 && anchors.every((anchor) => anchor.status === 'valid' && anchor.matchesLog);
    return { ...chain, anchored, anchors };
  }
}
