import type { Database } from '../../adapters/postgres/database';
import { entropyHistory, latestEntropyReports } from '../../adapters/postgres/entropy-repository';
import type { EntropyReport } from '../schemas/entropy';

/** What the entropy routes do: the nodes' harvest reports, as the harvesters stored them. */
export class EntropyService {
  constructor(private readonly db: Database) {}

  /** The newest report of every node. */
  async latest(): Promise<EntropyReport[]> {
    return latestEntropyReports(this.db);
  }

  /** Reports newest first, a page at a time (the oldest `at` of a page as `before` for the next). */
  async history(query: { nodeId?: string; limit: number; before?: string }): Promise<EntropyReport[]> {
    return entropyHistory(this.db, query);
  }
}
