import { spawn } from 'node:child_process';
import { readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { HsmNodeConfig } from '../../domain/config';
import type { ShownErrorCode } from '../../domain/error-codes';
import { ConfigError, UserError } from '../../domain/errors';
import { CLUSTER_WRAPPING_KEY_LABELS, type ClusterWrappingKeyLabel } from '../../domain/identifiers';
import { projectRoot } from '../../scripts/tool-paths';
import { useModuleEnvironment } from './module-environment';
import { HsmError } from './errors';
import { localNodeSteps, type NodeInspection, type NodeSteps } from './provision-steps';

/**
 * Provisioning of one node in a child process (`keyrotor provision-node --node <id>`, hidden), for nodes whose PKCS#11
 * module needs an environment of its own. The parent sends one JSON request per line on the child's standard input;
 * a request that carries a wrapping key's clear value says how many bytes follow the line, and the raw bytes follow.
 * The child answers each request with one JSON line on its standard output. The first request names the node, so the
 * parent and the child work from the same configuration; the key never appears in argv, the environment, a file or
 * a log, and both sides zero their copies once the token has it.
 */

type Request =
  | { op: 'init'; dataDir: string; node: HsmNodeConfig }
  | { op: 'inspect' }
  | { op: 'createToken' }
  | { op: 'deleteToken' }
  | { op: 'createWrappingKey'; label: ClusterWrappingKeyLabel; checkValue: string; valueBytes: number }
  | { op: 'destroyWrappingKey'; label: ClusterWrappingKeyLabel };

/** A failure in the child, carried so that the parent throws what the same step would throw in its own process. */
type Failure =
  | { kind: 'config'; problems: string[] }
  | { kind: 'hsm'; nodeId: string; ckr?: string; message: string; retryable: boolean }
  | { kind: 'user'; code: ShownErrorCode; message: string }
  | { kind: 'other'; message: string };

type Reply = { ok: true; result?: unknown } | { ok: false; failure: Failure };

function failureOf(error: unknown): Failure {
  if (error instanceof ConfigError) return { kind: 'config', problems: error.problems };
  if (error instanceof HsmError) {
    // HsmError puts `node <id>: ` before its message; the parent's HsmError puts it back.
    const message = error.message.startsWith(`node ${error.nodeId}: `) ? error.message.slice(`node ${error.nodeId}: `.length) : error.message;
    return { kind: 'hsm', nodeId: error.nodeId, ...(error.ckr ? { ckr: error.ckr } : {}), message, retryable: error.retryable };
  }
  if (error instanceof UserError) return { kind: 'user', code: error.code, message: error.message };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

function errorOf(failure: Failure): Error {
  switch (failure.kind) {
    case 'config':
      return new ConfigError(failure.problems);
    case 'hsm':
      return new HsmError(failure.nodeId, failure.ckr, failure.message, failure.retryable);
    case 'user':
      return new UserError(failure.code, failure.message);
    default:
      return new Error(failure.message);
  }
}

/**
 * Reads the child's standard input with blocking reads into one buffer of its own, so that a key's bytes are copied
 * once, into the caller's buffer, and the bytes they came through are zeroed at once.
 */
class InputReader {
  private readonly buffer = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;

  /** Reads more input; false at its end. */
  private fill(): boolean {
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    } else if (this.end === this.buffer.length) {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      this.buffer.fill(0, this.end);
    }
    if (this.end === this.buffer.length) throw new Error('a request line is longer than 64 KiB');
    const count = readSync(0, this.buffer, this.end, this.buffer.length - this.end, null);
    this.end += count;
    return count > 0;
  }

  /** The next line, or undefined when the input ended between requests. */
  line(): string | undefined {
    for (;;) {
      const newline = this.buffer.subarray(this.start, this.end).indexOf(0x0a);
      if (newline !== -1) {
        const text = this.buffer.toString('utf8', this.start, this.start + newline);
        this.buffer.fill(0, this.start, this.start + newline + 1);
        this.start += newline + 1;
        return text;
      }
      if (!this.fill()) {
        if (this.start !== this.end) throw new Error('the input ended inside a request');
        return undefined;
      }
    }
  }

  /** Exactly `count` bytes, in a buffer the caller must zero after use. */
  bytes(count: number): Buffer {
    const out = Buffer.alloc(count);
    let got = 0;
    while (got < count) {
      if (this.start === this.end && !this.fill()) {
        out.fill(0);
        throw new Error('the input ended inside a key');
      }
      const take = Math.min(count - got, this.end - this.start);
      this.buffer.copy(out, got, this.start, this.start + take);
      this.buffer.fill(0, this.start, this.start + take);
      this.start += take;
      got += take;
    }
    return out;
  }
}

function reply(message: Reply): void {
  writeSync(1, `${JSON.stringify(message)}\n`);
}

function isWrappingKeyLabel(label: unknown): label is ClusterWrappingKeyLabel {
  return CLUSTER_WRAPPING_KEY_LABELS.includes(label as ClusterWrappingKeyLabel);
}

/** The child's side: applies the node's module environment, then serves requests until its input ends. */
export async function serveNodeProvisioning(nodeId: string): Promise<void> {
  const input = new InputReader();
  const first = input.line();
  const init = first === undefined ? undefined : (JSON.parse(first) as Request);
  if (init?.op !== 'init' || init.node.id !== nodeId) {
    throw new UserError('not_a_provisioning_parent', 'keyrotor provision-node is started by keyrotor provision for one node; run keyrotor provision instead');
  }
  // Before anything loads the module: it reads its environment at C_Initialize.
  useModuleEnvironment(init.dataDir, [init.node]);
  const steps = localNodeSteps(init.node);
  reply({ ok: true });
  for (let line = input.line(); line !== undefined; line = input.line()) {
    const request = JSON.parse(line) as Request;
    // The key's bytes are read before anything else, so the stream stays in step whatever happens next.
    const value = request.op === 'createWrappingKey' ? input.bytes(request.valueBytes) : undefined;
    try {
      let result: unknown;
      switch (request.op) {
        case 'inspect':
          result = await steps.inspect();
          break;
        case 'createToken':
          await steps.createToken();
          break;
        case 'deleteToken':
          await steps.deleteToken();
          break;
        case 'createWrappingKey':
          if (!isWrappingKeyLabel(request.label) || !value) throw new Error(`unknown wrapping key '${String(request.label)}'`);
          result = await steps.createWrappingKey(request.label, value, Buffer.from(request.checkValue, 'hex'));
          break;
        case 'destroyWrappingKey':
          if (!isWrappingKeyLabel(request.label)) throw new Error(`unknown wrapping key '${String(request.label)}'`);
          await steps.destroyWrappingKey(request.label);
          break;
        default:
          throw new Error(`unknown request '${(request as { op: string }).op}'`);
      }
      reply({ ok: true, result });
    } catch (error) {
      reply({ ok: false, failure: failureOf(error) });
    } finally {
      value?.fill(0);
    }
  }
}

/** The parent's side: a running `keyrotor provision-node` for one node, driven through the same steps. */
export function startNodeProcess(dataDir: string, node: HsmNodeConfig): NodeSteps {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'keyrotor.js'), 'provision-node', '--node', node.id], {
    cwd: projectRoot,
    env: process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let pendingOutput = '';
  const replies: string[] = [];
  let waiting: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  let ended: Error | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = `${stderr}${chunk.toString()}`.slice(-4000);
  });
  child.stdout.on('data', (chunk: Buffer) => {
    pendingOutput += chunk.toString();
    for (let newline = pendingOutput.indexOf('\n'); newline !== -1; newline = pendingOutput.indexOf('\n')) {
      replies.push(pendingOutput.slice(0, newline));
      pendingOutput = pendingOutput.slice(newline + 1);
    }
    if (waiting && replies.length > 0) {
      waiting.resolve(replies.shift() as string);
      waiting = undefined;
    }
  });
  // stdin errors (EPIPE when the child died) are reported through the exit below.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      ended = new Error(`node ${node.id}: its provisioning process could not start (${error.message})`);
      waiting?.reject(ended);
      resolve(null);
    });
    child.once('close', (code) => {
      ended ??= new Error(`node ${node.id}: its provisioning process ended (exit code ${code})${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      waiting?.reject(ended);
      resolve(code);
    });
  });
  const nextReply = (): Promise<string> => {
    const line = replies.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (ended) return Promise.reject(ended);
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject };
    });
  };
  const write = (bytes: Buffer | string): Promise<void> =>
    new Promise((resolve, reject) => {
      // The callback comes once the pipe has the bytes, so a key buffer may be zeroed only after it.
      child.stdin.write(bytes, (error) => (error ? reject(new Error(`node ${node.id}: its provisioning process stopped reading (${error.message})`)) : resolve()));
    });

  // One request at a time: each waits for the reply to the one before.
  let queue: Promise<unknown> = Promise.resolve();
  const request = <T>(message: Request, secret?: Buffer): Promise<T> => {
    const run = async (): Promise<T> => {
      await write(`${JSON.stringify(message)}\n`);
      if (secret) await write(secret);
      const line = await nextReply();
      let answer: Reply;
      try {
        answer = JSON.parse(line) as Reply;
      } catch {
        throw new Error(`node ${node.id}: its provisioning process answered '${line.slice(0, 200)}'`);
      }
      if (answer.ok) return answer.result as T;
      throw errorOf(answer.failure);
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  const ready = request<void>({ op: 'init', dataDir, node });
  ready.catch(() => undefined);
  return {
    node,
    async inspect() {
      try {
        await ready;
        return await request<NodeInspection>({ op: 'inspect' });
      } catch (error) {
        return { problems: error instanceof ConfigError ? error.problems : [(error as Error).message] };
      }
    },
    createToken: () => request<void>({ op: 'createToken' }),
    deleteToken: () => request<void>({ op: 'deleteToken' }),
    createWrappingKey: (label, value, checkValue) =>
      request<string>({ op: 'createWrappingKey', label, checkValue: checkValue.toString('hex'), valueBytes: value.length }, value),
    destroyWrappingKey: (label) => request<void>({ op: 'destroyWrappingKey', label }),
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
