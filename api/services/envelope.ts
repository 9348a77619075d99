import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createTransportKey, type TransportKey } from '../../adapters/crypto/transport-key';
import type { Database } from '../../adapters/postgres/database';
import { getKey } from '../../adapters/postgres/key-repository';
import { insertUsage, type ResolvedUse } from '../../adapters/postgres/usage-repository';
import type { GenerateDataKeyResult, RewrapDataKeysResult, UnwrapDataKeyResult } from '../../adapters/pkcs11/envelope';
import { isShownErrorCode, type ErrorCode } from '../../domain/error-codes';
import { KeyrotorError, NotFoundError, UserError } from '../../domain/errors';
import { WORKFLOW_TYPES, envelopeWorkflowId } from '../../domain/identifiers';
import { formatCiphertext, parseCiphertext, type DataKeyBytes } from '../../domain/keys/ciphertext';
import { unwrappingVersion, wrappingVersion, type EnvelopeKey, type VersionRef } from '../../domain/keys/envelope-access';
import { validateKeyName, validateKeyType } from '../../domain/keys/key-model';
import { DEFAULT_POLICY, resolvePolicy } from '../../domain/keys/policy';
import type { UsageOperation } from '../../domain/usage/events';
import type { EnvelopeOperation, EnvelopeOperationResult, envelopeOperationWorkflow } from '../../workflows/envelope-operation';
import type { DataKeyReply, EnvelopeBody, RewrapReply, UnwrapReply } from '../schemas/envelope';

type ItemOutcome<T> = T | { error: { code: string; message: string } };
/** One use of a version by an envelope call, on the node that made it. */
type Use = { version: number; op: UsageOperation; node: string };

/** How many data keys or unwraps of one batch are made at once: each is an operation of its own on a node. */
const UNWRAPS_AT_ONCE = 8;

/**
 * The envelope API of aes-256 keys. The HSM makes, unwraps and rewraps data keys on a node (an envelope operation
 * workflow, workflows/envelope-operation.ts); a data key reaches this process only sealed to its transport key, an
 * RSA key made in memory when it first needs one, so Temporal's history never holds one in clear. Each call is
 * recorded as usage of the version it used (source envelope-api): keyrotor saw it, nobody has to report it.
 */
export class EnvelopeService {
  #transportKey: Promise<TransportKey> | undefined;

  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    private readonly controlTaskQueue: string,
    private readonly nodes: readonly string[],
  ) {}

  /** One data key, or `count` of them (each made by an operation of its own, a few at a time), under the active version. */
  async dataKey(name: string, request: { bytes: DataKeyBytes; plaintext: boolean; count?: number; app: string }): Promise<DataKeyReply> {
    const key = await this.envelopeKey(name);
    const kek = wrappingVersion(key);
    const transport = request.plaintext ? await this.transportKey() : null;
    const uses: Use[] = [];
    const made = await mapConcurrently(Array.from({ length: request.count ?? 1 }, (_, i) => i), UNWRAPS_AT_ONCE, async () => {
      const result = (await this.run(key.name, 'generateDataKey', { kekFingerprint: kek.fingerprint, bytes: request.bytes, transportKey: transport?.spki ?? null })) as { node: string; value: GenerateDataKeyResult };
      uses.push({ version: kek.version, op: 'wrap', node: result.node });
      const item: { ciphertext: string; plaintext?: string } = { ciphertext: formatCiphertext({ key: key.name, version: kek.version, blob: Buffer.from(result.value.wrapped, 'base64') }) };
      if (transport && result.value.plaintextForTransport) item.plaintext = this.opened(transport, result.value.plaintextForTransport);
      return item;
    });
    await this.record(key.name, request.app, uses);
    return request.count === undefined ? { key: key.name, version: kek.version, ...(made[0] as { ciphertext: string }) } : { key: key.name, version: kek.version, batch: made };
  }

  async unwrap(name: string, body: EnvelopeBody, app: string): Promise<UnwrapReply> {
    const key = await this.envelopeKey(name);
    const texts = itemsOf(body);
    const transport = await this.transportKey();
    const uses: Use[] = [];
    // One operation per ciphertext, a few at a time: each names its own version, and a refusal is that item's alone.
    const outcomes = await mapConcurrently(texts, UNWRAPS_AT_ONCE, (text) => itemOutcome(async () => {
      const { version, blob } = parseCiphertext(text, key.name);
      const kek = unwrappingVersion(key, version);
      const result = (await this.run(key.name, 'unwrapDataKey', { kekFingerprint: kek.fingerprint, wrapped: blob.toString('base64'), transportKey: transport.spki })) as { node: string; value: UnwrapDataKeyResult };
      uses.push({ version, op: 'unwrap', node: result.node });
      return { version, plaintext: this.opened(transport, result.value.plaintextForTransport) };
    }, body.batch === undefined));
    await this.record(key.name, app, uses);
    return body.batch === undefined ? (outcomes[0] as { version: number; plaintext: string }) : { batch: outcomes };
  }

  async rewrap(name: string, body: EnvelopeBody, app: string): Promise<RewrapReply> {
    const key = await this.envelopeKey(name);
    const texts = itemsOf(body);
    const single = body.batch === undefined;
    const target = wrappingVersion(key);
    const outcomes = new Array<ItemOutcome<{ version: number; ciphertext: string }> | undefined>(texts.length);
    const toHsm: Array<{ index: number; from: VersionRef; wrapped: string }> = [];
    for (const [index, text] of texts.entries()) {
      outcomes[index] = await itemOutcome(() => {
        const { version, blob } = parseCiphertext(text, key.name);
        const from = unwrappingVersion(key, version);
        // Under the active version already, it still goes through the HSM: a rewrap answers only for a data key that
        // opened (key wrap is deterministic, so an intact one comes back the same).
        toHsm.push({ index, from, wrapped: blob.toString('base64') });
        return undefined;
      }, single);
    }
    const uses: Use[] = [];
    if (toHsm.length > 0) {
      const result = (await this.run(key.name, 'rewrapDataKeys', {
        toFingerprint: target.fingerprint, items: toHsm.map((item) => ({ fromFingerprint: item.from.fingerprint, wrapped: item.wrapped })),
      })) as { node: string; value: RewrapDataKeysResult };
      for (const [position, item] of toHsm.entries()) {
        const answered = result.value.items[position];
        if (answered?.ok) {
          outcomes[item.index] = { version: target.version, ciphertext: formatCiphertext({ key: key.name, version: target.version, blob: Buffer.from(answered.wrapped, 'base64') }) };
          uses.push({ version: item.from.version, op: 'unwrap', node: result.node }, { version: target.version, op: 'wrap', node: result.node });
        } else {
          const refusal = answered ?? { code: 'internal_error', message: 'the HSM gave no answer for this item' };
          if (single) throw refusalOf(refusal.code, refusal.message);
          outcomes[item.index] = { error: { code: refusal.code, message: refusal.message } };
        }
      }
    }
    await this.record(key.name, app, uses);
    return single ? (outcomes[0] as { version: number; ciphertext: string }) : { batch: outcomes as Array<ItemOutcome<{ version: number; ciphertext: string }>> };
  }

  /** The key as recorded, in the terms of the envelope decisions (domain/keys/envelope-access.ts). */
  private async envelopeKey(name: string): Promise<EnvelopeKey> {
    const found = await getKey(this.db, validateKeyName(name));
    if (!found) throw new NotFoundError('key', name);
    const policy = resolvePolicy(found.key.policy, DEFAULT_POLICY);
    return { name: found.key.name, keyType: validateKeyType(found.key.keyType), phase: found.key.phase, policy, versions: found.versions };
  }

  private transportKey(): Promise<TransportKey> {
    this.#transportKey ??= createTransportKey().catch((error: unknown) => {
      this.#transportKey = undefined;
      throw error;
    });
    return this.#transportKey;
  }

  /** The data key the HSM sealed to the transport key, as base64 for the reply; the opened bytes are wiped after. */
  private opened(transport: TransportKey, sealed: string): string {
    const plaintext = transport.open(sealed);
    try {
      return plaintext.toString('base64');
    } finally {
      plaintext.fill(0);
    }
  }

  /** Runs one envelope operation on a node (the nodes in turn, from a random one); its refusal becomes the API's. */
  private async run(key: string, operation: EnvelopeOperation, input: Record<string, unknown>): Promise<{ node: string; value: unknown }> {
    const start = Math.floor(Math.random() * Math.max(1, this.nodes.length));
    const nodes = [...this.nodes.slice(start), ...this.nodes.slice(0, start)];
    const result: EnvelopeOperationResult = await this.temporal.workflow.execute<typeof envelopeOperationWorkflow>(WORKFLOW_TYPES.envelopeOperation, {
      taskQueue: this.controlTaskQueue,
      workflowId: envelopeWorkflowId(key, randomUUID()),
      args: [{ nodes, operation, input }],
      staticSummary: `${operation} with ${key}`,
    });
    if (!result.ok) throw refusalOf(result.code, result.message);
    return { node: result.node, value: result.value };
  }

  private async record(key: string, app: string, uses: readonly Use[]): Promise<void> {
    if (uses.length === 0) return;
    const counted = new Map<string, ResolvedUse>();
    const ts = new Date().toISOString();
    for (const use of uses) {
      const id = `${use.version}/${use.op}/${use.node}`;
      const seen = counted.get(id);
      if (seen) seen.count += 1;
      else counted.set(id, { eventId: null, ts, key, version: use.version, op: use.op, app, node: use.node, count: 1, sensitivity: null });
    }
    await this.db.transaction((tx) => insertUsage(tx, [...counted.values()], 'envelope-api'));
  }
}

/** A failure of the HSM side that is not the caller's to fix: the table's status, its message only in the log. */
class EnvelopeOperationError extends KeyrotorError {}

/** What an envelope operation's refusal becomes: the caller's error where the table shows it to clients. */
function refusalOf(code: ErrorCode, message: string): KeyrotorError {
  return isShownErrorCode(code) ? new UserError(code, message) : new EnvelopeOperationError(code, message);
}

function itemsOf(body: EnvelopeBody): string[] {
  if ((body.ciphertext === undefined) === (body.batch === undefined)) throw new UserError('invalid_request', 'give either ciphertext or batch, not both and not neither');
  return body.ciphertext !== undefined ? [body.ciphertext] : (body.batch ?? []).map((item) => item.ciphertext);
}

/** `work` over every item, at most `limit` at once; the results in the items' order. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** One item's answer: its value, or (in a batch) its refusal; a single request's refusal is the request's. */
async function itemOutcome<T>(work: () => T | Promise<T>, single: boolean): Promise<ItemOutcome<T>> {
  try {
    return await work();
  } catch (error) {
    if (single || !(error instanceof UserError)) throw error;
    return { error: { code: error.code, message: error.message } };
  }
}
