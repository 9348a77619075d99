import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { toDatabaseError } from './errors';

/** Anything that runs a query: the Database itself or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export class Database {
  private constructor(readonly pool: pg.Pool) {}

  static connect(url: string, options: { max?: number; applicationName?: string } = {}): Database {
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: options.applicationName ?? 'keyrotor' });
    // An idle client that loses its connection emits here; without a listener the process would crash.
    pool.on('error', () => undefined);
    return new Database(pool);
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw toDatabaseError(text.split(/\s+/).slice(0, 3).join(' '), error);
    }
  }

  /** Runs `work` in one transaction: the compute-then-commit boundary of every state change. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toDatabaseError('connect', error);
    }
    // The pool listens for errors of idle clients only. A checked-out client whose connection the server ends (a
    // PostgreSQL restart: 57P01) emits 'error' between queries, which without a listener crashed the API process.
    let connectionLost: Error | undefined;
    const onConnectionError = (error: Error): void => {
      connectionLost = error;
    };
    client.on('error', onConnectionError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw toDatabaseError('transaction', error);
    } finally {
      client.off('error', onConnectionError);
      // A client whose connection was lost is destroyed, not handed to the next caller.
      client.release(connectionLost);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

const MIGRATIONS_DIR = join(__dirname, 'migrations');
const MIGRATION_FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;
// Serialises migration runs of several processes starting at once.
const MIGRATION_LOCK = 7_302_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => MIGRATION_FILE.test(file))
    .sort()
    .map((file) => {
      const [, version, name] = MIGRATION_FILE.exec(file) as RegExpExecArray;
      const sql = readFileSync(join(dir, file), 'utf8');
      return { version: Number(version), name: name as string, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/**
 * Applies the migrations not applied yet, each in its own transaction. Forward-only: an applied migration whose file
 * changed since is an error, not something to re-run.
 */
export async function migrate(db: Database, log: (message: string) => void = () => undefined): Promise<number[]> {
  const migrations = loadMigrations();
  return db.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, checksum char(64) NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Map(
      (await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations')).rows.map((row) => [row.version, row.checksum]),
    );
    const newlyApplied: number[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(`migration ${migration.version}_${migration.name} was changed after it was applied; migrations are forward-only: add a new one instead`);
        }
        continue;
      }
      log(`applying migration ${migration.version}_${migration.name}`);
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [migration.version, migration.name, migration.checksum]);
      newlyApplied.push(migration.version);
    }
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...applied.keys()].filter((version) => !known.has(version));
    if (unknown.length > 0) {
      throw new Error(`the database has migrations ${unknown.join(', ')} that this keyrotor does not know; run the newer keyrotor that applied them`);
    }
    return newlyApplied;
  });
}
