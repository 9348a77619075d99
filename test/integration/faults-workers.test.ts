import { isClean, printTable, type ScenarioResult } from '../faults/report';
import { runNodeAway } from '../faults/scenarios/node-away';
import { runWorkerKills } from '../faults/scenarios/worker-kills';
import { startFaultStack, type FaultStack } from '../faults/stack';

/**
 * The bounded part of fault scenario 1 (`npm run faults` runs it in full): one key suffers a kill at each step type —
 * generate, replicate, publish, the risk evaluation on the control worker, archive (its wrap, and the destruction of the
 * private key once the archive is stored), verify, purge — each worker killed
 * while it holds the step's attempt. After each, nothing is lost, duplicated, orphaned or stranded, and the key moves
 * again within 30 s of its worker's return. Scenario 4 (a node away), quick: its rotations ask for the early answer
 * (`Prefer: respond-async`), so no request stays open while the node is away (a synchronous one outlasted the HTTP
 * client's 300 s headers timeout on a loaded machine); each waiting key names the node, an alert says so, and every
 * wait clears after the node's return.
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

  it('a node away: its keys wait for it visibly (named on the key, alerted), their rotations are acknowledged early, and all converge after its return', async () => {
    const results = await runNodeAway({ quick: true, log, stack });
    expect(results.map((result) => result.name)).toEqual(['node-away']);
    expectSound(results);
    const notes = results[0]?.notes ?? [];
    expect(notes.filter((note) => / waits for hsm-3 \(replicate v\d+ .*\) since .*, alerted$/.test(note))).toHaveLength(2);
    expect(notes).toContainEqual(expect.stringMatching(/^every wait cleared /));
  });
});
