import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { projectRoot } from '../../scripts/tool-paths';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `keyrotor ARGS` as a user would, in its own process, and waits for it to end. */
export function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 120_000): CliResult {
  const result = spawnSync(process.execPath, ['bin/keyrotor.js', ...args], { cwd: projectRoot, env: env, encoding: 'utf8', timeout: timeoutMs });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Like runCli, without blocking this process: needed when the command talks to a server that runs in this process
 * (spawnSync would stop the server from answering).
 */
export function runCliAsync(args: string[], env: Record<string, string | undefined>, timeoutMs = 120_000): Promise<CliResult> {
  return runAsync(process.execPath, ['bin/keyrotor.js', ...args], env, timeoutMs);
}

/** Runs any command in the project's folder, in its own process, and waits for it to end (SIGKILLed after timeoutMs). */
export function runAsync(command: string, args: string[], env: Record<string, string | undefined>, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: projectRoot, env: env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LongRunning {
  child: ChildProcess;
  output(): string;
  /** Resolves with the output so far once `pattern` shows up; rejects if the process ends first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<number | null>;
  /**
   * With `group`: sends a signal to the whole process group, as a terminal's Ctrl-C or `kill -TERM -<pgid>` does, and
   * resolves with the exit code; after timeoutMs the group is SIGKILLed.
   */
  stopGroup(signal: NodeJS.Signals, timeoutMs: number): Promise<number | null>;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

export interface LongRunningOptions {
  /** Runs the command as the leader of a process group of its own (as a shell runs a job), for stopGroup. */
  group?: boolean;
}

export function startLongRunning(command: string, args: string[], env: Record<string, string | undefined>, options: LongRunningOptions = {}): LongRunning {
  const child = spawn(command, args, { cwd: projectRoot, env: env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group === true });
  let output = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    exitCode = code;
    resolve(code);
  }));
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    child,
    output: () => output,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (exitCode !== undefined) throw new Error(`process exited (${exitCode}) before ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop(signal, timeoutMs) {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async stopGroup(signal, timeoutMs) {
      if (options.group !== true || child.pid === undefined) throw new Error('stopGroup needs a process started with { group: true }');
      const signalGroup = (groupSignal: NodeJS.Signals): void => {
        try {
          process.kill(-(child.pid as number), groupSignal);
        } catch {
          // The group is gone already.
        }
      };
      if (exitCode !== undefined) return exitCode;
      signalGroup(signal);
      const timer = setTimeout(() => signalGroup('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    exited,
  };
}
