import { printTable } from '../faults/report';
import { runJwtLoadScenario } from '../faults/scenarios/jwt-load';

/**
 * Fault scenario 5, bounded (the quick parameters of test/faults/scenarios/jwt-load.ts), on the fault stack: while 8
 * keys rotate (on maxAge, on request, one emergency), a signing application signs JWTs through PKCS#11 on random nodes
 * and verifiers check them as jose's cached remote key set does. Every genuine token verifies, no forged one does, a
 * version an application keeps after it starts retiring signs until it is archived, and the invariants hold after.
 */

describe('fault scenario 5: applications verifying JWTs while keys rotate', () => {
  it('no failed verification of a genuine token, no forged token accepted, and every invariant holds after the run', async () => {
    const { row, load } = await runJwtLoadScenario({ quick: true, log: (line) => process.stderr.write(`[jwt-load] ${line}\n`) });
    process.stderr.write(printTable([row]));
    expect(load.failures).toEqual([]);
    expect(row).toMatchObject({ runs: 1, completed: 1, duplicates: 0, orphans: 0, lost: 0, stranded: 0, failedVerifications: 0 });
    expect(load.forged).toEqual({ sent: 8, accepted: 0 });
    // The run saw what it is about: versions turning over, and a slow application signing with a retiring version.
    expect(load.rotations).toBeGreaterThanOrEqual(load.keys / 2);
    expect(load.retiringSigned).toBeGreaterThan(0);
    expect(load.signed).toBeGreaterThan(1000);
  }, 600_000);
});
