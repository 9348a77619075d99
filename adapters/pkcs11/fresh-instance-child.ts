/**
 * The child of destroyInFreshInstance. It reads messages on standard input, one JSON object a line, and answers each
 * on standard output in order: `{"found": n}` or `{"error", "retryable"}`. Each message gets a module instance of its
 * own: the module is loaded and initialised for it, and finalised and unloaded after it, and SoftHSM forgets at
 * C_Finalize everything it knew of the token's files. It exits when its standard input ends.
 */
import { createInterface } from 'node:readline';
import { ObjectClass, template } from './attributes';
import { HsmError, toHsmError } from './errors';
import type { FreshInstanceMessage } from './fresh-instance';
import { TokenSessionPool } from './session-pool';
import { findObjects } from './token';

type Reply = { found: number } | { error: string; retryable: boolean };

async function destroy({ token, request }: FreshInstanceMessage): Promise<Reply> {
  let pool: TokenSessionPool | undefined;
  try {
    pool = TokenSessionPool.open({ ...token, size: 1 });
    const id = Buffer.from(request.fingerprint, 'hex');
    const found = await pool.withSession('destroying key objects from a fresh module instance', ({ pkcs11, session }) => {
      let count = 0;
      for (const keyClass of request.classes) {
        for (const object of findObjects(pkcs11, session, template({ class: ObjectClass[keyClass], id }))) {
          pkcs11.C_DestroyObject(session, object);
          count += 1;
        }
      }
      return count;
    });
    return { found };
  } catch (error) {
    const failure = error instanceof HsmError ? error : toHsmError(token.nodeId, 'destroying key objects from a fresh module instance', error);
    return { error: failure.message.replace(/^node [^:]+: /, ''), retryable: failure.retryable };
  } finally {
    // The last user finalises and unloads the module: the next message starts from nothing.
    await pool?.close();
  }
}

async function main(): Promise<void> {
  // One message at a time: the next one's module instance starts after this one's is finalised.
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    const reply = await destroy(JSON.parse(line) as FreshInstanceMessage);
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }
}

void main();
