import { readSecret } from '../../adapters/secrets';
import type { RunningSystem } from '../../workers/system';
import { runJwtLoad, type JwtLoadResult, type LoadTarget } from '../faults/load/jwt-load';
import { freePort } from '../support/ports';
import { softHsmModule, testConfig, testWorkflowBundle, tokenFor } from '../support/system';
import { startSystem } from '../../workers/system';

/**
 * Fault scenario 5, bounded: applications verify JWTs against the JWKS as jose's cached remote key set does, while
 * keys rotate (on maxAge, on request, and one emergency). Every genuine token verifies; no forged one does; a version
 * an application keeps signing with after it starts retiring works until it is archived.
 */

let system: RunningSystem;
let target: LoadTarget;

beforeAll(async () => {
  const config = await testConfig({ env: { KEYROTOR_API_PORT: String(await freePort()) } });
  system = await startSystem(config, { log: () => undefined, workflowBundle: await testWorkflowBundle(), apiLogger: false, schedules: false });
  const adminToken = await tokenFor(system, 'admin');
  target = {
    apiUrl: system.apiUrl,
    adminToken,
    nodes: config.hsm.nodes.map((node) => ({ id: node.id, modulePath: softHsmModule(), tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`) })),
    async api(method, path, body) {
      const reply = await fetch(`${system.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await reply.text();
      return { status: reply.status, body: text ? JSON.parse(text) : null };
    },
  };
}, 180_000);

afterAll(async () => {
  await system?.stop();
});

describe('fault scenario 5: applications verifying JWTs while keys rotate', () => {
  let result: JwtLoadResult;

  it('signs and verifies under rotation load with no failed verification of a genuine token', async () => {
    result = await runJwtLoad(
      target,
      {
        keys: 8, rsaEvery: 4, verifiers: 2, durationMs: 150_000, manualRotations: 4, emergencyRotations: 1, ratePerSecond: 15,
        policy: { gracePeriod: '20s', maxGracePeriod: '1m', retention: '15s', maxAge: '75s', minRotationInterval: '1s', evaluationInterval: '1h' },
      },
      (line) => process.stderr.write(`[faults-load] ${line}\n`),
    );
    process.stderr.write(`[faults-load] ${JSON.stringify({ ...result, acknowledged: result.acknowledged.length })}\n`);
    expect(result.failures).toEqual([]);
    expect(result.failedVerifications).toBe(0);
    expect(result.forged).toEqual({ sent: 8, accepted: 0 });
    expect(result.signRefusals.unexpected).toBe(0);
    expect(result.rotations).toBeGreaterThanOrEqual(result.keys);
    expect(result.retiringSigned).toBeGreaterThan(0);
    expect(result.signed).toBeGreaterThan(1000);
  }, 600_000);
});
