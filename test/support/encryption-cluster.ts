import type { EncryptionUsage } from '../../domain/keys/encryption-usage';
import { isEncryptionKeyType, profileOf, type JweAlgorithm } from '../../domain/keys/key-types';
import { FakeCluster, InjectedFailure } from './lifecycle-world';

export interface LoggedCall {
  activity: string;
  node: string | null;
  input: Record<string, unknown>;
}

const DECRYPT_ONLY: EncryptionUsage = { encrypt: false, wrap: false, decrypt: true, unwrap: true };

/**
 * The in-memory cluster with encryption keys, as the HSM activities treat them (activities/hsm-key-activities.ts): an
 * aes-256 version is one secret object and no SPKI, an RSA-OAEP version a pair with the JWE algorithm its HSM decrypts;
 * a new version and its replicas carry the usage of their state, which setEncryptionUsage changes per node; describeKey
 * reports a secret key, and destroyKeyObjects takes it only when asked for `secretKey`; countSignsAfter counts decrypt
 * and unwrap use when its input names those operations. Every call is logged with its input, in order.
 *
 * The base cluster keeps one `private` entry per version and node: for an aes-256 version it stands for the secret key.
 */
export class EncryptionCluster extends FakeCluster {
  readonly log: LoggedCall[] = [];
  /** node → fingerprint → the usage attributes that version's objects carry there now. */
  readonly usage = new Map<string, Map<string, EncryptionUsage>>();
  /** Decrypt and unwrap use reported after any moment, per version. */
  decrypts = new Map<number, number>();
  /** What an RSA-OAEP generation answers as the JWE algorithm its HSM decrypts. */
  jweAlg: JweAlgorithm | null = 'RSA-OAEP';
  /** Each node's usage of every version at the moment each version's activation was recorded, by version. */
  readonly usageAtActivation = new Map<number, Record<string, Record<string, EncryptionUsage>>>();
  private readonly secretKeys = new Set<string>();

  override call(activity: string, input: Record<string, unknown>, node: string | null): unknown {
    this.log.push({ activity, node, input });
    if (activity === 'recordKeyEvent') this.noteActivation(input);
    const keyType = typeof input.keyType === 'string' && isEncryptionKeyType(input.keyType) ? input.keyType : null;
    const fingerprint = input.fingerprint as string;
    switch (activity) {
      case 'setEncryptionUsage': {
        this.calls.push(`${activity}@${node ?? '?'}`);
        this.lastCallAt = Date.now();
        if (!this.fingerprintsOn(node as string).includes(fingerprint)) throw new InjectedFailure('hsm_key_not_found', `no key ${fingerprint} on ${node ?? '?'}`);
        this.usageOn(node as string).set(fingerprint, { ...(input.usage as EncryptionUsage) });
        return { changed: [] };
      }
      case 'generateKeyPair': {
        const made = super.call(activity, input, node) as { fingerprint?: string; spki?: string };
        if (keyType === null || made.fingerprint === undefined) return made;
        this.usageOn(node as string).set(made.fingerprint, { ...DECRYPT_ONLY });
        if (profileOf(keyType).keyKind !== 'aes') return { ...made, jweAlg: this.jweAlg };
        this.secretKeys.add(made.fingerprint);
        this.objects.get(node as string)?.get(made.fingerprint)?.delete('public');
        return { ...made, spki: null };
      }
      case 'wrapPrivateKey': {
        const wrapped = super.call(activity, input, node) as Record<string, unknown>;
        return this.secretKeys.has(fingerprint) ? { ...wrapped, keyType: 'aes-256', publicKey: null } : wrapped;
      }
      case 'importReplica': {
        const made = super.call(activity, input, node);
        if (keyType !== null) this.usageOn(node as string).set(fingerprint, { ...(input.usage as EncryptionUsage) });
        if (this.secretKeys.has(fingerprint)) this.objects.get(node as string)?.get(fingerprint)?.delete('public');
        return made;
      }
      case 'destroyKeyObjects': {
        if (!this.secretKeys.has(fingerprint)) return super.call(activity, input, node);
        // The secret key goes only when the destruction names it: privateKey alone leaves it on the token.
        return super.call(activity, { ...input, privateKey: input.secretKey === true, publicKey: false }, node);
      }
      case 'describeKey': {
        const described = super.call(activity, input, node) as { privateKey: boolean; publicKey: boolean };
        if (!this.secretKeys.has(fingerprint)) return described;
        return { ...described, privateKey: false, publicKey: false, secretKey: described.privateKey };
      }
      case 'countSignsAfter': {
        const operations = (input.operations as string[] | undefined) ?? ['sign'];
        if (!operations.includes('decrypt')) return super.call(activity, input, node);
        this.calls.push(activity);
        this.lastCallAt = Date.now();
        const count = this.decrypts.get(input.version as number) ?? 0;
        return { evidence: 'events', count, apps: count > 0 ? ['envelope-api'] : [] };
      }
      default:
        return super.call(activity, input, node);
    }
  }

  override activities(node: string | null): Record<string, (input: Record<string, unknown>) => Promise<unknown>> {
    return {
      ...super.activities(node),
      setEncryptionUsage: async (input: Record<string, unknown>) => {
        await Promise.resolve();
        try {
          return this.call('setEncryptionUsage', input, node);
        } catch (error) {
          throw error instanceof InjectedFailure ? error.toTemporal() : error;
        }
      },
    };
  }

  /** The calls of one activity, in order. */
  callsOf(activity: string): LoggedCall[] {
    return this.log.filter((call) => call.activity === activity);
  }

  /** Where in the log the activation of `version` was recorded (-1 if it was not). */
  activationIndex(version: number): number {
    return this.log.findIndex((call) => call.activity === 'recordKeyEvent' && eventOf(call).action === 'key.version.activated' && eventOf(call).details.version === version);
  }

  private usageOn(node: string): Map<string, EncryptionUsage> {
    let onNode = this.usage.get(node);
    if (!onNode) {
      onNode = new Map();
      this.usage.set(node, onNode);
    }
    return onNode;
  }

  private noteActivation(input: Record<string, unknown>): void {
    const { state, event } = input as { state: { versions: Array<{ version: number; fingerprint: string }> }; event: { action: string; details: Record<string, unknown> } };
    if (event.action !== 'key.version.activated') return;
    const snapshot: Record<string, Record<string, EncryptionUsage>> = {};
    for (const node of this.nodeIds) {
      snapshot[node] = Object.fromEntries(state.versions.flatMap((v) => {
        const usage = this.usage.get(node)?.get(v.fingerprint);
        return usage ? [[`v${v.version}`, usage]] : [];
      }));
    }
    this.usageAtActivation.set(event.details.version as number, snapshot);
  }
}

function eventOf(call: LoggedCall): { action: string; details: Record<string, unknown> } {
  return (call.input as { event: { action: string; details: Record<string, unknown> } }).event;
}
