import { runServerRestarts } from '../faults/scenarios/server-restarts';
import { runWholeSystemKills } from '../faults/scenarios/whole-system';
import type { ScenarioResult } from '../faults/report';

/**
 * The bounded part of fault scenarios 2 and 3 (the whole of them: `npm run faults -- --only server-restarts --only
 * whole-system`): one restart of the Temporal dev server during a grace period, one of PostgreSQL during a rotation,
 * and two SIGKILLs of the whole `npm start` process group while its keys rotate. Nothing may be lost, duplicated,
 * orphaned or stranded, and each part must recover within the bounds.
 */
const log = (line: string): void => {
  if (process.env.KEYROTOR_FAULTS_VERBOSE) process.stderr.write(`${line}\n`);
};

function expectSound(result: ScenarioResult): void {
  // The notes carry the witnesses: on a failure they say what was seen where.
  expect({ name: result.name, completed: result.completed, duplicates: result.duplicates, orphans: result.orphans, lost: result.lost, stranded: result.stranded, notes: result.notes })
    .toEqual({ name: result.name, completed: result.runs, duplicates: 0, orphans: 0, lost: 0, stranded: 0, notes: result.notes });
}

describe('fault scenarios: servers restarted and the whole system killed', () => {
  it('a Temporal restart across a grace deadline and a PostgreSQL restart during a rotation lose nothing, and the key moves again within 30 s', async () => {
    const [grace, rotation] = await runServerRestarts({ runs: 1, parts: ['temporal-grace', 'postgres-rotation'], log });
    for (const result of [grace, rotation]) {
      expect(result).toBeDefined();
      expectSound(result as ScenarioResult);
      expect((result as ScenarioResult).maxRecoveryS).toBeLessThanOrEqual(30);
    }
  }, 600_000);

  it('npm start SIGKILLed as a process group twice while keys rotate: every key moves within 30 s of the restart, the harvest resumes within one interval', async () => {
    const result = await runWholeSystemKills({ kills: 2, keys: 3, log });
    expectSound(result);
    expect(result.maxRecoveryS).toBeLessThanOrEqual(30);
  }, 900_000);
});
