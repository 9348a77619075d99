import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
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
/** An idle child is ended after this; the next check starts one again. */
export const FRESH_INSTANCE_IDLE_MS = 30_000;

/**
 * Destroys the request's objects as a module instance of its own sees the token: in a child process that loads the
 * module, opens one session, logs in, finds and destroys, and finalises and unloads the module again.
 *
 * Why not in this process: SoftHSM's file store (2.6.1, OSToken::index) re-reads the token folder only for file names
 * it has not seen before, and a file this process deleted keeps its name in that list. An object file that stays on
 * disk after C_DestroyObject, or is written again by a stale writer (SoftHSMv2 #903: the handle goes before the file),
 * is then invisible to this process for good, while every other process, and the next start of this one, sees the key.
 * The fault suite found a purged version's private key on a token that way. A fresh instance has no such memory, and
 * neither has a module finalised and initialised again: SoftHSM drops its object store at C_Finalize
 * (test/integration/fresh-instance.test.ts shows a file put back after a destruction found by the same child). This
 * process cannot do that to its own module, which its sessions use; the child can, between checks. So one child serves
 * the checks one after another, and is ended when idle: starting a process costs this one a fork of its whole memory
 * (a sixth of a second with the event loop stopped, for a process of a gigabyte), and the child's start a few hundred
 * milliseconds of CPU more.
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
  const { nodeId, modulePath, tokenLabel, pin } = token;
  const message: FreshInstanceMessage = { token: { nodeId, modulePath, tokenLabel, pin }, request };
  return freshInstances.ask(message).then((reply) => {
    if ('found' in reply) return { found: reply.found };
    throw new HsmError(token.nodeId, undefined, reply.error, reply.retryable);
  }, (error: Error) => {
    throw new HsmError(token.nodeId, undefined, `the fresh module instance that confirms the destruction of key ${request.fingerprint} ${error.message}`, true);
  });
}

type Reply = { found: number } | { error: string; retryable: boolean };

/** The running child: its process, what it has printed and not yet answered, and the question it answers now. */
interface Child {
  process: ChildProcessWithoutNullStreams;
  environment: string;
  stdout: string;
  stderr: string;
  /** Settles the question in progress: its reply, or why there is none (a string for the caller's message). */
  pending?: { resolve: (reply: Reply) => void; reject: (why: string) => void };
  idleTimer?: NodeJS.Timeout;
}

/**
 * The child that destroyInFreshInstance asks, one question at a time. It is started at the first question, and again
 * after it failed, after a question it did not answer in time (it is killed), when the environment given to children
 * changed (a test's SOFTHSM2_CONF), or after FRESH_INSTANCE_IDLE_MS without a question. While idle it keeps this
 * process from nothing: not from exiting, and not from a fork (it is one already).
 */
class FreshInstances {
  private child: Child | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private started = 0;

  get childrenStarted(): number {
    return this.started;
  }

  ask(message: FreshInstanceMessage): Promise<Reply> {
    const asked = this.queue.then(() => this.askNow(message));
    this.queue = asked.catch(() => undefined);
    return asked;
  }

  private askNow(message: FreshInstanceMessage): Promise<Reply> {
    const environment = moduleEnvironmentForChild();
    const signature = JSON.stringify(environment);
    if (this.child && this.child.environment !== signature) this.end(this.child);
    const child = this.child ?? this.start(environment, signature);
    clearTimeout(child.idleTimer);
    setReferenced(child, true);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.process.kill('SIGKILL');
      }, FRESH_INSTANCE_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        child.pending = undefined;
        if (this.child !== child) return;
        setReferenced(child, false);
        child.idleTimer = setTimeout(() => this.end(child), FRESH_INSTANCE_IDLE_MS);
        child.idleTimer.unref();
      };
      child.pending = {
        resolve: (reply) => {
          done();
          resolve(reply);
        },
        reject: (why) => {
          done();
          reject(new Error(why));
        },
      };
      child.process.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  private start(environment: NodeJS.ProcessEnv, signature: string): Child {
    this.started += 1;
    const process_ = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), CHILD], { stdio: ['pipe', 'pipe', 'pipe'], env: environment });
    const child: Child = { process: process_, environment: signature, stdout: '', stderr: '' };
    this.child = child;
    process_.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      child.stdout += chunk;
      for (let end = child.stdout.indexOf('\n'); end >= 0; end = child.stdout.indexOf('\n')) {
        const line = child.stdout.slice(0, end);
        child.stdout = child.stdout.slice(end + 1);
        const reply = parseReply(line);
        if (reply) {
          child.pending?.resolve(reply);
        } else {
          // Its answers can no longer be told apart: it is stopped, so that no later line answers the next question.
          this.forget(child);
          child.process.kill('SIGKILL');
          child.pending?.reject(`answered what is not a reply (${line.slice(0, 200)})`);
        }
      }
    });
    process_.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      child.stderr = (child.stderr + chunk).slice(-2_000);
    });
    // Writing to a child that has just died fails here; its 'close' says why.
    process_.stdin.on('error', () => undefined);
    process_.on('error', (error) => {
      this.forget(child);
      child.pending?.reject(`could not start (${error.message})`);
    });
    process_.on('close', (code, signal) => {
      this.forget(child);
      child.pending?.reject(signal ? `was stopped by ${signal}` : `exited with ${code} (${child.stderr.trim().split('\n').pop() ?? 'no output'})`);
    });
    return child;
  }

  /** Ends an idle or outdated child: its standard input closes, and it exits. */
  private end(child: Child): void {
    clearTimeout(child.idleTimer);
    this.forget(child);
    setReferenced(child, false);
    child.process.stdin.end();
  }

  private forget(child: Child): void {
    if (this.child === child) this.child = undefined;
  }
}

/** Whether the child and its pipes keep this process running: only while it answers a question. */
function setReferenced(child: Child, referenced: boolean): void {
  for (const handle of [child.process, child.process.stdin, child.process.stdout, child.process.stderr] as Array<{ ref(): unknown; unref(): unknown }>) {
    if (referenced) handle.ref();
    else handle.unref();
  }
}

const freshInstances = new FreshInstances();

/** How many children destroyInFreshInstance has started in this process. */
export function freshInstanceChildrenStarted(): number {
  return freshInstances.childrenStarted;
}

function parseReply(line: string): Reply | undefined {
  try {
    const reply = JSON.parse(line) as unknown;
    return typeof reply === 'object' && reply !== null && ('found' in reply || 'error' in reply) ? (reply as Reply) : undefined;
  } catch {
    return undefined;
  }
}
