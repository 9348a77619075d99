import { statSync } from 'node:fs';
import { join } from 'node:path';
import { raiseAlert } from '../../adapters/postgres/alert-repository';
import { appendAudit } from '../../adapters/postgres/audit-repository';
import { Database, migrate } from '../../adapters/postgres/database';
import { applicationRoleProblems, openApplicationDatabase } from '../../adapters/postgres/roles';
import { readSecret } from '../../adapters/secrets';
import { keyWorkflowId } from '../../domain/identifiers';
import type { KeymapSyncResult } from '../../domain/keymap/sync';
import type { RunningSystem } from '../../workers/system';
import { startEmbeddedCluster, type EmbeddedCluster } from '../support/embedded-postgres';
import { eventually } from '../support/eventually';
import { freePort } from '../support/ports';
import { callApiAs, createTestDatabase, requireEnv, startTestSystem, testConfig, tokenFor, uniqueName } from '../support/system';

/** What keyrotor's own role must never be able to do, each with the statement that tries it. */
const FORBIDDEN: Array<[string, string]> = [
  ['update an audit entry', "UPDATE audit_log SET actor = 'intruder'"],
  ['delete audit entries', 'DELETE FROM audit_log'],
  ['truncate the audit log', 'TRUNCATE audit_log'],
  ['switch triggers off for the session', 'SET session_replication_role = replica'],
  ['switch triggers off for a transaction', 'SET LOCAL session_replication_role = replica'],
  ["disable the audit log's trigger", 'ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only'],
  ['alter a table', 'ALTER TABLE keys ADD COLUMN backdoor text'],
  ['create a table', 'CREATE TABLE shadow (x int)'],
  ['drop a table', 'DROP TABLE audit_anchors'],
  ["raise a token's role", "UPDATE api_tokens SET role = 'admin'"],
  ['delete keys', 'DELETE FROM keys'],
  ['change the grants', 'SELECT keyrotor_grant_application(current_user)'],
];

/** Runs each forbidden statement as the role of `db` and answers what PostgreSQL said to each (each must fail). */
async function attempts(db: Database): Promise<Array<{ what: string; refused: string }>> {
  const results: Array<{ what: string; refused: string }> = [];
  for (const [what, sql] of FORBIDDEN) {
    try {
      await db.transaction((tx) => tx.query(sql));
      results.push({ what, refused: 'no: it succeeded' });
    } catch (error) {
      results.push({ what, refused: ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message });
    }
  }
  return results;
}

const REFUSALS = /^(permission denied|must be owner|must be superuser)/;

describe('least privilege in PostgreSQL', () => {
  describe('the embedded default', () => {
    const clusterDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('embedded-'));
    let cluster: EmbeddedCluster;
    let system: RunningSystem;
    let operator: string;
    let admin: string;

    beforeAll(async () => {
      // keyrotor's own PostgreSQL, which makes its roles itself; the system connects with the URLs it answers, as
      // `keyrotor start` does (workers/system.ts).
      cluster = await startEmbeddedCluster(clusterDir, await freePort());
      const base = await testConfig();
      system = await startTestSystem({ ...base, database: { ...base.database, url: cluster.url, ownerUrl: cluster.ownerUrl } });
      operator = await tokenFor(system, 'operator');
      admin = await tokenFor(system, 'admin');
    });

    afterAll(async () => {
      await system?.client.workflow.getHandle(keyWorkflowId('least-privileged')).terminate('test over').catch(() => undefined);
      await system?.stop();
      await cluster?.stop();
    });

    const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, token = operator) => callApiAs(system, token, method, url, payload);

    it('connects as an application role that owns nothing, with random passwords in 0600 files', async () => {
      const { rows } = await system.db.query<{ role: string; superuser: boolean }>('SELECT current_user AS role, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user');
      expect(rows).toEqual([{ role: 'keyrotor_app', superuser: false }]);
      expect(await applicationRoleProblems(system.db)).toEqual([]);
      const owners = await system.db.query<{ owner: string }>("SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace");
      expect(owners.rows).toEqual([{ owner: 'keyrotor_owner' }]);
      const secrets = join(clusterDir, 'secrets');
      expect(statSync(secrets).mode & 0o777).toBe(0o700);
      const passwords = ['postgres.password', 'postgres-owner.password', 'postgres-app.password'].map((file) => {
        expect(statSync(join(secrets, file)).mode & 0o777).toBe(0o600);
        return readSecret({ file: join(secrets, file) }, file);
      });
      expect(new Set(passwords).size).toBe(3);
      expect(system.databaseUrl).toMatch(/^postgres:\/\/keyrotor_app:/);
    });

    it('refuses the application role every change to the audit log, to the schema and to session_replication_role', async () => {
      await system.db.transaction((tx) => appendAudit(tx, { actor: 'test', action: 'test.entry', subject: 'test', details: {} }));
      const results = await attempts(system.db);
      expect(results).toEqual(FORBIDDEN.map(([what]) => ({ what, refused: expect.stringMatching(REFUSALS) })));
      expect(results.find((result) => result.what === 'switch triggers off for the session')?.refused).toBe('permission denied to set parameter "session_replication_role"');
      expect((await api('GET', '/audit/verify', undefined, admin)).body).toMatchObject({ ok: true });
    });

    it('does everything keyrotor does in normal operation as that role', async () => {
      // Tokens: create, revoke.
      const token = await api('POST', '/tokens', { name: 'short-lived', role: 'auditor' }, admin);
      expect(token.status).toBe(201);
      expect((await api('DELETE', `/tokens/${(token.body.info as { id: string }).id}`, undefined, admin)).status).toBe(200);
      // Subscriptions: create, delete (the secret erased).
      const subscription = await api('POST', '/subscriptions', { url: 'https://93.184.216.34/hooks' });
      expect(subscription.status).toBe(201);
      expect((await api('DELETE', `/subscriptions/${(subscription.body.subscription as { id: string }).id}`)).status).toBe(204);
      // Alerts: raise, fold, acknowledge.
      const { alert } = await raiseAlert(system.db, { dedupKey: 'test:least-privilege', severity: 'info', source: 'test', subject: 'test', message: 'raised by the application role' }, []);
      await raiseAlert(system.db, { dedupKey: 'test:least-privilege', severity: 'info', source: 'test', subject: 'test', message: 'again' }, []);
      expect((await api('POST', `/alerts/${alert.id}/ack`)).body).toMatchObject({ count: 2, acknowledgedBy: expect.any(String) });
      // A key's whole lifecycle records (keys, versions, events, the key map's epoch triggers), a rotation, usage.
      expect((await api('POST', '/keys', { name: 'least-privileged', type: 'ec-p256', policy: { gracePeriod: '1s', maxGracePeriod: '1m', retention: '1s', publicationLead: '0s' } })).status).toBe(202);
      const kid = await eventually(async () => {
        const key = (await api('GET', '/keys/least-privileged')).body as { versions?: Array<{ state: string; kid: string }> };
        return key.versions?.find((version) => version.state === 'active')?.kid;
      }, 'v1 of least-privileged');
      expect((await api('POST', '/usage', [{ ts: new Date().toISOString(), key: 'least-privileged', kid, op: 'sign', app: 'checkout', eventId: uniqueName('evt-') }])).body).toEqual({ stored: 1, duplicates: 0 });
      expect((await api('POST', '/keys/least-privileged/rotate', { reason: 'as the application role' })).status).toBe(200);
      await eventually(async () => {
        const key = (await api('GET', '/keys/least-privileged')).body as { versions?: Array<{ version: number; state: string }> };
        return key.versions?.find((version) => version.version === 1)?.state === 'purged' ? true : undefined;
      }, 'v1 archived and purged', 120_000);
      // Threat intelligence: post, withdraw.
      const indicator = { id: uniqueName('ti-'), severity: 'low', scope: 'app', target: 'checkout', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), source: 'test' };
      expect((await api('POST', '/threat-intel', [indicator])).body).toMatchObject({ created: 1 });
      expect((await api('DELETE', `/threat-intel/${indicator.id}`)).status).toBe(204);
      // A key map sync: holdings, nodes, lease, runs, epochs, audit anchors.
      const sync = await api('POST', '/keymap/sync');
      expect(sync.status).toBe(200);
      expect((sync.body as unknown as KeymapSyncResult).problems).toEqual([]);
      // Retention deletes raw usage events and risk evaluations.
      const retention = await system.client.workflow.execute('usageRetentionWorkflow', {
        taskQueue: system.config.temporal.controlTaskQueue,
        workflowId: uniqueName('test-usage-retention/'),
        args: [{ batchSize: 100 }],
      });
      expect(retention).toMatchObject({ deleted: 0 });
      expect((await api('GET', '/audit/verify', undefined, admin)).body).toMatchObject({ ok: true });
    });
  });

  it('hands an embedded cluster over from the superuser: tables a superuser made before the roles existed go to the owner', async () => {
    const dataDir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('embedded-upgrade-'));
    const port = await freePort();
    let cluster = await startEmbeddedCluster(dataDir, port);
    try {
      // What an earlier keyrotor did: migrate and run as the superuser.
      const superuser = Database.connect(cluster.superuserUrl);
      await migrate(superuser);
      await superuser.close();
      await cluster.stop();
      cluster = await startEmbeddedCluster(dataDir, port);
      const log: string[] = [];
      const { db } = await openApplicationDatabase({ url: cluster.url, ownerUrl: cluster.ownerUrl }, (message) => log.push(message));
      try {
        const owners = await db.query<{ owner: string }>("SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace");
        expect(owners.rows).toEqual([{ owner: 'keyrotor_owner' }]);
        expect(log).toEqual([]);
        expect(await applicationRoleProblems(db)).toEqual([]);
        expect(await attempts(db)).toEqual(FORBIDDEN.map(([what]) => ({ what, refused: expect.stringMatching(REFUSALS) })));
      } finally {
        await db.close();
      }
    } finally {
      await cluster.stop();
    }
  });

  it('runs the migrations as the owner given beside DATABASE_URL, and the application as DATABASE_URL\'s role', async () => {
    const urls = await createTestDatabase();
    const log: string[] = [];
    const { db, applied } = await openApplicationDatabase(urls, (message) => log.push(message));
    try {
      expect(applied.length).toBeGreaterThan(0);
      expect(log.filter((line) => line.startsWith('warning'))).toEqual([]);
      expect(await applicationRoleProblems(db)).toEqual([]);
      expect(await attempts(db)).toEqual(FORBIDDEN.map(([what]) => ({ what, refused: expect.stringMatching(REFUSALS) })));
    } finally {
      await db.close();
    }
  });

  it('refuses to start when the two URLs name the same role, before it changes anything', async () => {
    const { ownerUrl } = await createTestDatabase();
    await expect(openApplicationDatabase({ url: ownerUrl, ownerUrl }, () => undefined)).rejects.toMatchObject({
      code: 'invalid_configuration',
      problems: [expect.stringMatching(/^DATABASE_URL and KEYROTOR_DATABASE_OWNER_URL connect as the same role \(t_\w+_owner\)/)],
    });
    const owner = Database.connect(ownerUrl);
    try {
      expect((await owner.query("SELECT to_regclass('schema_migrations') AS migrations")).rows).toEqual([{ migrations: null }]);
    } finally {
      await owner.close();
    }
  });

  it('keeps working with DATABASE_URL alone, saying once why that role can rewrite the audit log and what to set', async () => {
    const { ownerUrl } = await createTestDatabase();
    const log: string[] = [];
    const { db } = await openApplicationDatabase({ url: ownerUrl }, (message) => log.push(message));
    try {
      await db.transaction((tx) => appendAudit(tx, { actor: 'test', action: 'test.entry', subject: 'test', details: {} }));
      const warnings = log.filter((line) => line.startsWith('warning'));
      expect(warnings).toEqual([expect.stringMatching(/one PostgreSQL role.*owns \d+ table.*set KEYROTOR_DATABASE_OWNER_URL/)]);
    } finally {
      await db.close();
    }
  });
});
