import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { HsmError } from './errors';
import { moduleEnvironmentForChild } from './module-environment';

/** Key objects to destroy, by CKA_ID (the key's fingerprint) and class. */
export interface FreshDestroyRequest {
  fingerprint: string;
  classes: Array<'privateKey' | 'publicKey' | 'secretKey'>;
}

/** What the fresh instance found of those objects on the token, and destroyed. */
export interface FreshDestroyResult {
  found: number;
}

/** The token a fresh instance opens, as a session pool has it. */
export interface FreshInstanceToken {
  nodeId: string;
  modulePath: string;
  tokenLabel: string;
  pin: string;
}

/** The child's message on standard input; the PIN travels here, never in its arguments or environment. */
export interface FreshInstanceMessage {
  token: FreshInstanceToken;
  request: FreshDestroyRequest;
}

const CHILD = join(__dirname, 'fresh-instance-child.ts');
/** A cold child loads tsx, the module and the token's objects; on a loaded 2-core machine that took up to a few seconds. */
const FRESH_INSTANCE_TIMEOUT_MS = 60_000;

/**
 * Destroys the request's objects as a module instance of its own sees the token: in a child process that loads the
 * module, opens one session, logs in, finds and destroys, and exits.
 *
 * Why not in this process: SoftHSM's file store (2.6.1, OSToken::index) re-reads the token folder only for file names
 * it has not seen before, and a file this process deleted keeps its name in that list. An object file that stays on
 * disk after C_DestroyObject, or is written again by a stale writer (SoftHSMv2 #903: the handle goes before the file),
 * is then invisible to this process for good, while every other process, and the next start of this one, sees the key.
 * The fault suite found a purged version's private key on a token that way. A fresh instance has no such memory.
 */
export async function destroyInFreshInstance(token: FreshInstanceToken, request: FreshDestroyRequest): Promise<FreshDestroyResult> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await destroyOnce(token, request);
    } catch (error) {
      if (!(error instanceof HsmError) || !TOKEN_READ_MID_WRITE.test(error.message)) throw error;
      if (attempt >= TOKEN_READ_ATTEMPTS) {
        throw new HsmError(token.nodeId, undefined, `${error.message.replace(/^node [^:]+: /, '')}, ${attempt} times: the token's files were being rewritten; the step is retried`, true, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, TOKEN_READ_PAUSE_MS * attempt));
    }
  }
}

/**
 * What a new module instance reports when it read the token's token.object while the worker's instance rewrote it
 * (SoftHSM rewrites the token's flags at a login): no such token, or a user PIN not initialised. The worker's own
 * sessions just used that token and PIN, so it passes: a new instance reads again, and the step is retried after that
 * rather than holding the key (a purge of 100 keys at once held one on "C_Login ... CKR_USER_PIN_NOT_INITIALIZED").
 */
const TOKEN_READ_MID_WRITE = /CKR_USER_PIN_NOT_INITIALIZED|CKR_TOKEN_NOT_RECOGNIZED|no token labelled/;
const TOKEN_READ_ATTEMPTS = 5;
const TOKEN_READ_PAUSE_MS = 200;

function destroyOnce(token: FreshInstanceToken, request: FreshDestroyRequest): Promise<FreshDestroyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), CHILD], { stdio: ['pipe', 'pipe', 'pipe'], env: moduleEnvironmentForChild() });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, FRESH_INSTANCE_TIMEOUT_MS);
    const failed = (why: string): HsmError =>
      new HsmError(token.nodeId, undefined, `the fresh module instance that confirms the destruction of key ${request.fingerprint} ${why}`, true);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2_000);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(failed(`could not start (${error.message})`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const reply = parseReply(stdout);
      if (code === 0 && reply && 'found' in reply) resolve({ found: reply.found });
      else if (reply && 'error' in reply) reject(new HsmError(token.nodeId, undefined, reply.error, reply.retryable));
      else reject(failed(signal ? `was stopped by ${signal}` : `exited with ${code} (${stderr.trim().split('\n').pop() ?? 'no output'})`));
    });
    const { nodeId, modulePath, tokenLabel, pin } = token;
    const message: FreshInstanceMessage = { token: { nodeId, modulePath, tokenLabel, pin }, request };
    child.stdin.end(JSON.stringify(message));
  });
}

type Reply = { found: number } | { error: string; retryable: boolean };

function parseReply(stdout: string): Reply | undefined {
  try {
    return JSON.parse(stdout) as Reply;
  } catch {
    return undefined;
  }
}
