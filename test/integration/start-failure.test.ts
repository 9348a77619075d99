import { startSystem } from '../../workers/system';
import { testConfig, testWorkflowBundle } from '../support/system';

// A start that fails late, after the control worker is made ready but before it polls, stops what it started. The
// prepared worker holds a reference on the worker connection: unless it is released, closing that connection fails
// ("Cannot close connection while Workers hold a reference to it") and the native runtime stays behind.
describe('a start that fails after the control worker is prepared', () => {
  const saved = process.env.KEYROTOR_ADMIN_TOKEN;
  afterEach(() => {
    if (saved === undefined) delete process.env.KEYROTOR_ADMIN_TOKEN;
    else process.env.KEYROTOR_ADMIN_TOKEN = saved;
  });

  it('reports the cause and stops everything it started, the worker connection included', async () => {
    const config = await testConfig();
    // Checked only once the workers are up: the admin token is registered at the end of the start.
    process.env.KEYROTOR_ADMIN_TOKEN = 'too-short';
    const lines: string[] = [];
    await expect(startSystem(config, { log: (line) => lines.push(line), workflowBundle: await testWorkflowBundle(), listen: false, apiLogger: false, schedules: false }))
      .rejects.toThrow(/KEYROTOR_ADMIN_TOKEN must be at least 24 characters/);
    expect(lines.some((line) => /preparing the control worker/.test(line))).toBe(true);
    expect(lines.filter((line) => /^stopping .* failed/.test(line))).toEqual([]);
  });
});
