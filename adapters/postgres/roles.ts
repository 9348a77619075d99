import { ConfigError } from '../../domain/errors';
import { Database, migrate } from './database';

/** The roles the embedded PostgreSQL gets; with DATABASE_URL the operator names them (README, "PostgreSQL roles"). */
export const EMBEDDED_OWNER_ROLE = 'keyrotor_owner';
export const EMBEDDED_APPLICATION_ROLE = 'keyrotor_app';

/**
 * Makes `role` a login role with `password` and no attribute beyond login: not a superuser (which alone may switch
 * `session_replication_role`, and so the audit log's append-only trigger, off), no CREATEROLE, CREATEDB, REPLICATION or
 * BYPASSRLS. Run as a superuser; the password is set again at every start, so the secret file stays the truth.
 */
export async function ensureLoginRole(superuser: Database, role: string, password: string): Promise<void> {
  const exists = await superuser.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  const attributes = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT';
  // Utility statements take no parameters: the password is quoted as a literal (it is random base64url anyway).
  const literal = `'${password.replace(/'/g, "''")}'`;
  await superuser.query(`${exists.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${quoteIdentifier(role)} WITH ${attributes} PASSWORD ${literal}`);
}

/**
 * Gives the schema of the connected database, and every table, sequence and function in it, to `owner`. An embedded
 * cluster that keyrotor ran as the superuser before its roles existed is handed over this way on its first start with
 * them; after that there is nothing left to hand over.
 */
export async function transferSchemaOwnership(superuser: Database, owner: string): Promise<void> {
  const ownerIdentifier = quoteIdentifier(owner);
  await superuser.query(`ALTER SCHEMA public OWNER TO ${ownerIdentifier}`);
  const { rows: relations } = await superuser.query<{ name: string; kind: string }>(
    `SELECT c.oid::regclass::text AS name, c.relkind AS kind FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND pg_get_userbyid(c.relowner) <> $1
        -- A sequence owned by a column follows its table.
        AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))`,
    [owner],
  );
  for (const relation of relations) {
    const statement = relation.kind === 'S' ? 'SEQUENCE' : relation.kind === 'v' ? 'VIEW' : relation.kind === 'm' ? 'MATERIALIZED VIEW' : 'TABLE';
    await superuser.query(`ALTER ${statement} ${relation.name} OWNER TO ${ownerIdentifier}`);
  }
  const { rows: functions } = await superuser.query<{ signature: string }>(
    "SELECT p.oid::regprocedure::text AS signature FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> $1",
    [owner],
  );
  for (const fn of functions) await superuser.query(`ALTER FUNCTION ${fn.signature} OWNER TO ${ownerIdentifier}`);
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Grants the application role exactly what keyrotor does (keyrotor_grant_application: the rows of application_grants, migration 012). */
export async function grantApplicationRole(owner: Database, applicationRole: string): Promise<void> {
  await owner.query('SELECT keyrotor_grant_application($1)', [applicationRole]);
}

/**
 * What the connected role can do that the application role must not: each a sentence for the operator. Empty for a
 * role that owns nothing, cannot create in the schema, cannot touch the audit log beyond appending, and is no superuser.
 */
export async function applicationRoleProblems(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ role: string; superuser: boolean; createrole: boolean; owned: string; create: boolean; audit: boolean }>(
    `SELECT current_user AS role, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relowner = r.oid AND n.nspname = current_schema()) AS owned,
            has_schema_privilege(current_schema(), 'CREATE') AS create,
            (has_table_privilege('audit_log', 'UPDATE') OR has_table_privilege('audit_log', 'DELETE') OR has_table_privilege('audit_log', 'TRUNCATE')) AS audit
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = rows[0];
  if (!row) return [];
  const problems: string[] = [];
  if (row.superuser) problems.push(`${row.role} is a superuser (it can switch session_replication_role, and so the audit log's append-only trigger, off)`);
  if (row.createrole) problems.push(`${row.role} has CREATEROLE`);
  if (Number(row.owned) > 0) problems.push(`${row.role} owns ${row.owned} table(s) or sequence(s) of the schema (it can alter them, and disable the audit log's trigger)`);
  if (row.create) problems.push(`${row.role} may create objects in the schema`);
  if (row.audit) problems.push(`${row.role} may update, delete or truncate audit_log`);
  return problems;
}

/**
 * Opens the application's connection pool after bringing the schema up to date. With an owner URL, the migrations run
 * as the owner, which then grants the application role what it needs; the pool connects as the application role.
 * Without one (only DATABASE_URL), one role does both, as before the roles were split: it works, with a warning.
 */
export async function openApplicationDatabase(urls: { url: string; ownerUrl?: string }, log: (message: string) => void): Promise<{ db: Database; applied: number[] }> {
  const db = Database.connect(urls.url);
  try {
    if (urls.ownerUrl === undefined) {
      const applied = await migrate(db, log);
      const problems = await applicationRoleProblems(db);
      if (problems.length > 0) {
        log(`warning: keyrotor migrates and runs as one PostgreSQL role, so the application can rewrite its own audit log (${problems.join('; ')}); set KEYROTOR_DATABASE_OWNER_URL to a role that owns the schema and DATABASE_URL to one that owns nothing (README, "PostgreSQL roles")`);
      }
      return { db, applied };
    }
    const owner = Database.connect(urls.ownerUrl, { max: 1, applicationName: 'keyrotor-migrations' });
    try {
      const roleOf = async (database: Database): Promise<string> => (await database.query<{ role: string }>('SELECT current_user AS role')).rows[0]?.role ?? '';
      const [applicationRole, ownerRole] = [await roleOf(db), await roleOf(owner)];
      if (applicationRole === ownerRole) {
        throw new ConfigError([`DATABASE_URL and KEYROTOR_DATABASE_OWNER_URL connect as the same role (${applicationRole}); give the application a role of its own that owns nothing (README, "PostgreSQL roles")`]);
      }
      const applied = await migrate(owner, log);
      await grantApplicationRole(owner, applicationRole);
      const problems = await applicationRoleProblems(db);
      if (problems.length > 0) log(`warning: the application's PostgreSQL role has more than it needs: ${problems.join('; ')} (README, "PostgreSQL roles")`);
      return { db, applied };
    } finally {
      await owner.close();
    }
  } catch (error) {
    await db.close();
    throw error;
  }
}
