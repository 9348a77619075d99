/**
 * The child of destroyInFreshInstance: a module instance of its own. It reads one message on standard input, finds
 * and destroys the named objects, prints `{"found": n}` (or `{"error", "retryable"}`) and exits.
 */
import { ObjectClass, template } from './attributes';
import { HsmError, toHsmError } from './errors';
import type { FreshInstanceMessage } from './fresh-instance';
import { TokenSessionPool } from './session-pool';
import { findObjects } from './token';

async function readMessage(): Promise<FreshInstanceMessage> {
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  return JSON.parse(input) as FreshInstanceMessage;
}

async function main(): Promise<void> {
  const { token, request } = await readMessage();
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
    process.stdout.write(JSON.stringify({ found }));
  } catch (error) {
    const failure = error instanceof HsmError ? error : toHsmError(token.nodeId, 'destroying key objects from a fresh module instance', error);
    process.stdout.write(JSON.stringify({ error: failure.message.replace(/^node [^:]+: /, ''), retryable: failure.retryable }));
    process.exitCode = 1;
  } finally {
    await pool?.close();
  }
}

void main();
