import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Database } from '../../adapters/postgres/database';
import { recordKeyEvent } from '../../adapters/postgres/key-repository';
import { kidFor } from '../../domain/keys/key-model';
import { newKeyState, type KeyLifecycleState } from '../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY } from '../../domain/keys/policy';

/**
 * Records keys as their lifecycle workflows would have (one active version each, a rotation by age due within 90 days),
 * through the same repository call, without running 1,000 workflows and HSM generations: for list views and benches
 * that need many keys. Each has a real P-256 public key (made here, not in an HSM), so the JWKS stays valid. Names are
 * `<prefix><0000…>`.
 */
export async function recordSyntheticKeys(db: Database, input: { prefix: string; count: number; nodeId: string; nowMs?: number }): Promise<string[]> {
  const nowMs = input.nowMs ?? Date.now();
  const names: string[] = [];
  for (let i = 0; i < input.count; i += 1) {
    const name = `${input.prefix}${String(i).padStart(4, '0')}`;
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const fingerprint = createHash('sha256').update(spki).digest('hex');
    const createdAt = new Date(nowMs - (i % 60) * 86_400_000).toISOString();
    const state: KeyLifecycleState = {
      ...newKeyState({ name, keyType: 'ec-p256', policy: DEFAULT_POLICY, actor: 'synthetic', now: createdAt }),
      phase: 'active',
      versionCounter: 1,
      eventSeq: 1,
      // Spread over the next 90 days, so schedules have something on most days.
      nextRotationAt: new Date(nowMs + ((i * 7919) % 90) * 86_400_000 + (i % 24) * 3_600_000).toISOString(),
      versions: [
        {
          version: 1,
          kid: kidFor(name, 1, fingerprint),
          fingerprint,
          state: 'active',
          generatedOn: input.nodeId,
          createdAt,
          activatedAt: createdAt,
          retiringAt: null,
          archivedAt: null,
          purgedAt: null,
          compromisedAt: null,
          spki: spki.toString('base64'),
          lineage: { previousVersion: null, trigger: 'create', reason: 'synthetic key', actor: 'synthetic' },
          graceDeadline: null,
          purgeAfter: null,
          verdict: null,
          entropyProvenance: null,
        },
      ],
    };
    await recordKeyEvent(db, state, { id: `${name}/1`, action: 'key.version.activated', actor: 'synthetic', details: { version: 1 } });
    names.push(name);
  }
  return names;
}
