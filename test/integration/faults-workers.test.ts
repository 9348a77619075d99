import { isClean, printTable, type ScenarioResult } from '../faults/report';
import { runWorkerKills } from '../faults/scenarios/worker-kills';
import { startFaultStack, type FaultStack } from '../faults/stack';

/**
 * The bounded part of fault scenario 1 (`npm run faults` runs it in full): one key suffers a kill at each step type —
 * generate, replicate, publish, the risk evaluation on the control worker, archive (its wrap, and the destruction of the
 * private key once the archive is stored), verify, purge — each worker killed
 * while it holds the step's attempt. After each, nothing is lost, duplicated, orphaned or stranded, and the key moves
 * again within 30 s of its worker's return. Scenario 4 (a node away) runs only in `npm run faults`: its rotate calls
 * stay open until the node is back, and on a loaded machine that outlasted the HTTP client's 300 s headers timeout.
 */
// Eight kills, each waiting for a worker to start again: minutes on an idle machine, more on a loaded one.
jest.setTimeout(900_000);

describe('faults: workers killed at each step', () => {
  let stack: FaultStack;
  const log = (line: string): void => {
    process.stderr.write(`[faults] ${line}\n`);
  };

  beforeAll(async () => {
    stack = await startFaultStack({ nodes: 3, log });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const expectSound = (results: ScenarioResult[]): void => {
    log(`\n${printTable(results)}`);
    for (const result of results) {
      expect({ name: result.name, clean: isClean(result), notes: result.notes }).toEqual({ name: result.name, clean: true, notes: result.notes });
      expect({ name: result.name, maxRecoveryS: result.maxRecoveryS }).toEqual({ name: result.name, maxRecoveryS: expect.any(Number) });
      expect(result.maxRecoveryS).toBeLessThan(30);
    }
  };

  it('a worker killed at each step: every step is retried and completes; no dead attempt waits out its start-to-close timeout', async () => {
    const results = await runWorkerKills({ quick: true, log, stack });
    expect(results.map((result) => result.name).sort()).toEqual([
      'worker-kills/archive', 'worker-kills/archive: destroy private key', 'worker-kills/control: risk evaluation', 'worker-kills/generate', 'worker-kills/publish (control)',
      'worker-kills/purge', 'worker-kills/replicate', 'worker-kills/verify',
    ]);
    expectSound(results);
    // Each victim held the step's attempt when it died, and the retry came from a heartbeat timeout.
    for (const result of results) expect({ name: result.name, notes: result.notes?.filter((note) => /held no attempt|START_TO_CLOSE/.test(note)) }).toEqual({ name: result.name, notes: [] });
  });
});
