import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { KEY_WORKFLOW_TASK_TIMEOUT_MS } from '../../domain/step-timeouts';
import { projectRoot } from '../../scripts/tool-paths';
import type { RunningSystem } from '../../workers/system';
import { eventually } from '../support/eventually';
import { startTestSystem, testWorkflowBundle, tokenFor, uniqueName } from '../support/system';

/** Histories recorded by earlier versions of the workflow code; `KEYROTOR_RECORD_HISTORIES=1` adds this run's. */
const FIXTURES = join(projectRoot, 'test', 'fixtures', 'histories');
const History = temporal.api.history.v1.History;
/** Keys whose lifecycles run at once. */
const KEYS = 6;

describe('workflow histories replay against the current workflow code', () => {
  let system: RunningSystem;

  afterAll(async () => {
    await system?.stop();
  });

  it('replays whole key lifecycles recorded now (several keys at once, under queries), and the histories recorded before, without non-determinism', async () => {
    system = await startTestSystem();
    const operator = await tokenFor(system, 'operator');
    const call = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
      (await system.app.inject({ method, url, headers: { authorization: `Bearer ${operator}` }, ...(payload ? { payload } : {}) })).json<Record<string, unknown>>();
    /**
     * One key's lifecycle: created, rotated, grace extended, a signing use of the retiring version (the end-of-grace
     * check extends the grace period once), purged. Several keys at once, each polled by queries: a query answered
     * in the workflow task of a rotation's last read once made the run and its replay see that read in different
     * tasks (workflows/lifecycle-steps.ts), and the replay failed.
     */
    const lifecycle = async (name: string): Promise<void> => {
      await call('POST', '/keys', { name, type: 'ec-p256', policy: { gracePeriod: '3s', maxGracePeriod: '20s', retention: '1s', publicationLead: '0s' } });
      await eventually(async () => ((await call('GET', `/keys/${name}`)).activeVersion === 1 ? true : undefined), `${name} v1`, 300_000);
      const v1 = ((await call('GET', `/keys/${name}`)).versions as Array<{ kid: string }>)[0];
      await call('POST', `/keys/${name}/rotate`, { reason: 'replay test' });
      await call('POST', `/keys/${name}/grace`, { extendBy: '1s', reason: 'replay test' });
      await system.app.inject({
        method: 'POST',
        url: '/usage',
        headers: { authorization: `Bearer ${operator}` },
        payload: [{ ts: new Date().toISOString(), key: name, kid: v1?.kid, op: 'sign', app: 'replay-app' }],
      });
      await eventually(async () => {
        const versions = (await call('GET', `/keys/${name}`)).versions as Array<{ version: number; state: string }>;
        return versions.find((v) => v.version === 1)?.state === 'purged' ? true : undefined;
      }, `${name} v1 purged`, 300_000);
    };
    const names = Array.from({ length: KEYS }, () => uniqueName('replay-'));
    let done = false;
    // Queries all the while, as dashboards and operators send them.
    const queries = Promise.all(names.map(async (name) => {
      while (!done) {
        await call('GET', `/keys/${name}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }));
    try {
      await Promise.all(names.map(lifecycle));
    } finally {
      done = true;
      await queries;
    }

    const runs: WorkflowExecutionInfo[] = [];
    for (const name of names) {
      const before = runs.length;
      for await (const execution of system.client.workflow.list({ query: `WorkflowId = 'key/${name}'` })) runs.push(execution);
      expect(runs.length - before).toBeGreaterThanOrEqual(2);
    }
    // Every run, the first and each fresh one, gives a cold worker's replay 20 s (domain/step-timeouts.ts), not 10 s.
    const taskTimeouts = await Promise.all(runs.map(async (run) => {
      const described = await system.client.workflow.getHandle(run.workflowId, run.runId).describe();
      return Number(described.raw.executionConfig?.defaultWorkflowTaskTimeout?.seconds ?? 0);
    }));
    expect(taskTimeouts).toEqual(runs.map(() => KEY_WORKFLOW_TASK_TIMEOUT_MS / 1000));
    const recorded = await Promise.all(runs.map(async (run) => ({
      workflowId: run.workflowId,
      runId: run.runId,
      history: await system.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory(),
    })));
    if (process.env.KEYROTOR_RECORD_HISTORIES === '1') {
      mkdirSync(FIXTURES, { recursive: true });
      // Named by date: histories of older workflow code stay, so that each patch's old branch keeps being replayed.
      const stamp = new Date().toISOString().slice(0, 10).replaceAll('-', '');
      // One key's runs are enough: the others went the same way.
      for (const [index, run] of recorded.filter((r) => r.workflowId === `key/${names[0] as string}`).entries()) {
        const history = History.toObject(History.fromObject(run.history), { longs: String, enums: String, bytes: String });
        writeFileSync(join(FIXTURES, `key-lifecycle-${stamp}-${index + 1}.json`), `${JSON.stringify({ workflowId: run.workflowId, history })}\n`);
      }
    }
    const committed = existsSync(FIXTURES)
      ? readdirSync(FIXTURES).filter((file) => file.endsWith('.json')).map((file) => {
        const fixture = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as { workflowId: string; history: Record<string, unknown> };
        return { workflowId: `${fixture.workflowId} (${file})`, history: History.fromObject(fixture.history) };
      })
      : [];
    expect(committed.length).toBeGreaterThanOrEqual(2);

    const results = Worker.runReplayHistories({ workflowBundle: await testWorkflowBundle() }, [...recorded, ...committed]);
    const outcomes: Array<{ workflowId: string; error: string | null }> = [];
    for await (const result of results) outcomes.push({ workflowId: result.workflowId, error: result.error ? String(result.error) : null });
    expect(outcomes).toHaveLength(recorded.length + committed.length);
    expect(outcomes.filter((outcome) => outcome.error !== null)).toEqual([]);
    // Past the two waits of each key's lifecycle: on a loaded machine (a CI run, another test file beside it) the six
    // lifecycles under queries took over the default 180 s, and a test stopped by its timeout leaves its polls running.
  }, 900_000);
});
