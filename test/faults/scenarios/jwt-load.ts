import { checkInvariants, type Ledger } from '../invariants';
import { runJwtLoad, type JwtLoadParams, type JwtLoadResult } from '../load/jwt-load';
import type { FaultScenario, ScenarioResult } from '../report';
import { startFaultStack } from '../stack';

/**
 * Scenario 5: applications under rotation load. A signing application re-reads the key map and signs JWTs through
 * PKCS#11 on random nodes (some of its keys keep a retiring version for a while); verifier processes check every token
 * as jose's createRemoteJWKSet does with its defaults; 50 keys (ec-p256, every fifth rsa-2048) rotate on a short
 * maxAge, on manual requests and in a few emergencies. Counted: verifications of a genuine token that failed (must be
 * 0), forged tokens accepted (must be 0), signatures refused before their version was archived (must be 0).
 */

const POLICY = { gracePeriod: '30s', maxGracePeriod: '2m', retention: '20s', maxAge: '2m', minRotationInterval: '1s', evaluationInterval: '1h' };

export function loadParams(quick: boolean): JwtLoadParams {
  return quick
    ? { keys: 8, rsaEvery: 4, verifiers: 2, durationMs: 130_000, manualRotations: 4, emergencyRotations: 1, ratePerSecond: 15, policy: { ...POLICY, gracePeriod: '20s', maxAge: '40s', retention: '15s' } }
    : { keys: 50, rsaEvery: 5, verifiers: 3, durationMs: 4 * 60_000, manualRotations: 20, emergencyRotations: 3, ratePerSecond: 30, policy: POLICY };
}

export function notesOf(load: JwtLoadResult): string[] {
  return [
    `${load.keys} keys, ${load.rotations} rotations (${load.emergencies} emergency); ${load.signed} JWTs signed (${load.retiringSigned} by a retiring version), ${load.verifications} verifications`,
    `failed verifications of genuine tokens: ${load.failedVerifications}; revoked by an emergency (documented): ${load.revokedRejections}; new emergency version inside a verifier's cooldown (documented): ${load.emergencyWindowRejections}`,
    `forged tokens accepted: ${load.forged.accepted} of ${load.forged.sent}; signatures refused: ${load.signRefusals.expected} after archive or compromise, ${load.signRefusals.unexpected} before`,
    ...load.failures.slice(0, 10),
  ];
}

export async function runJwtLoadScenario(options: { quick: boolean; log: (line: string) => void }): Promise<{ row: ScenarioResult; load: JwtLoadResult }> {
  const stack = await startFaultStack({ nodes: 3, log: options.log });
  try {
    const load = await runJwtLoad(stack, loadParams(options.quick), options.log);
    const ledger: Ledger = { acknowledged: load.acknowledged };
    options.log('checking the invariants');
    const counts = await checkInvariants({ apiUrl: stack.apiUrl, token: stack.adminToken, temporalAddress: stack.temporalAddress, nodes: stack.nodes }, ledger);
    const failedVerifications = load.failedVerifications + load.forged.accepted + load.signRefusals.unexpected;
    const row: ScenarioResult = {
      name: 'jwt-load',
      runs: 1,
      completed: counts.completed && counts.auditVerified ? 1 : 0,
      duplicates: counts.duplicates,
      orphans: counts.orphans,
      lost: counts.lost,
      stranded: counts.stranded,
      maxRecoveryS: 0,
      failedVerifications,
      notes: [...notesOf(load), ...(counts.auditVerified ? [] : ['the audit chain does not verify']), ...counts.witnesses.slice(0, 10)],
    };
    return { row, load };
  } finally {
    await stack.stop();
  }
}

export const scenario: FaultScenario = {
  name: 'jwt-load',
  run: async (options) => [(await runJwtLoadScenario(options)).row],
};
