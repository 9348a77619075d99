/**
 * Benchmark of the `keyrotor` command's start-up: `--help`, and commands that end as soon as they have started (an
 * API command against an address nobody listens on, `sts` on a file of 1,024 bits, `kat` on a missing file, a worker
 * for a node that does not exist), each as a whole process, against a baseline measured in the same run: `node -e 0`,
 * the start of Node itself. The rounds alternate the commands, so that a machine busy with other work slows all of them
 * alike. The same `--help` through tsx, as the CLI runs before `node scripts/build-cli.js` (or after a source edit),
 * shows what the precompiled command table saves.
 *
 *   npx tsx bench/cli-start.ts [rounds]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../scripts/tool-paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- plain JavaScript of the bootstrap, no types
const { ensureCli, currentCliBundle } = require('../scripts/build-cli.js') as { ensureCli: () => Promise<{ built: boolean }>; currentCliBundle: () => string | undefined };

const GOAL_MS = 150;

interface Case {
  name: string;
  args: string[];
  /** The exit code that says it ran as meant (a failure on purpose ends the command right after its start). */
  exitCode: number;
  env?: Record<string, string>;
}

/**
 * CPU time (user + system, ms) of this process's waited-for children so far, from /proc/self/stat (cutime, cstime): what
 * a child used, whatever else the machine runs.
 */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command name: state is field 3, cutime and cstime are fields 16 and 17 of the whole line.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 15);
  const { built } = await ensureCli();
  if (!currentCliBundle()) throw new Error('the precompiled keyrotor command is not current after building it');
  process.stdout.write(`${built ? 'precompiled the keyrotor command first' : 'the precompiled keyrotor command is current'}; ${rounds} rounds\n`);

  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-cli-start-'));
  const bitsFile = join(folder, 'bits.bin');
  writeFileSync(bitsFile, Buffer.alloc(128, 0x5a));
  const keyrotor = join(projectRoot, 'bin', 'keyrotor.js');
  const cases: Case[] = [
    { name: 'node -e 0 (baseline)', args: ['-e', '0'], exitCode: 0 },
    { name: 'keyrotor --help', args: [keyrotor, '--help'], exitCode: 0 },
    { name: 'keyrotor keys list --help', args: [keyrotor, 'keys', 'list', '--help'], exitCode: 0 },
    { name: 'keyrotor jwks (API not there)', args: [keyrotor, 'jwks'], exitCode: 4, env: { KEYROTOR_API: 'http://127.0.0.1:9' } },
    { name: 'keyrotor sts (1,024 bits)', args: [keyrotor, 'sts', bitsFile], exitCode: 0 },
    { name: 'keyrotor kat drbg (no file)', args: [keyrotor, 'kat', 'drbg', join(folder, 'missing.rsp')], exitCode: 2 },
    { name: 'keyrotor worker hsm (no such node)', args: [keyrotor, 'worker', 'hsm', '--node', 'no-such-node'], exitCode: 2 },
    {
      name: 'keyrotor --help through tsx (no build)',
      args: ['-e', "require('tsx/cjs'); require('./cli/main.ts').main(['node', 'keyrotor', '--help']).then((code) => { process.exitCode = code; })"],
      exitCode: 0,
    },
  ];
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        const started = process.hrtime.bigint();
        const cpuBefore = childrenCpuMs();
        const result = spawnSync(process.execPath, c.args, { cwd: projectRoot, env: { ...process.env, ...c.env }, encoding: 'utf8' });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (result.status !== c.exitCode) throw new Error(`${c.name} exited ${result.status}, not ${c.exitCode}:\n${result.stderr}`);
        times.get(c.name)!.push(ms);
        cpu.get(c.name)!.push(childrenCpuMs() - cpuBefore);
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }

  const baseline = median(times.get(cases[0]!.name)!);
  const baselineCpu = median(cpu.get(cases[0]!.name)!);
  const width = Math.max(...cases.map((c) => c.name.length));
  process.stdout.write(`\n${'command'.padEnd(width)}  wall ms  × node -e 0  CPU ms  × node -e 0  (medians)\n`);
  for (const c of cases) {
    const ms = median(times.get(c.name)!);
    const cpuMs = median(cpu.get(c.name)!);
    process.stdout.write(
      `${c.name.padEnd(width)}  ${ms.toFixed(0).padStart(7)}  ${(ms / baseline).toFixed(2).padStart(11)}  ${cpuMs.toFixed(0).padStart(6)}  ${(cpuMs / baselineCpu).toFixed(2).padStart(11)}\n`,
    );
  }
  process.stdout.write(`\ngoal: ${GOAL_MS} ms for --help and each command's start on an idle machine; a loaded one slows node -e 0 too, so compare the ratios (CPU ms: the clock ticks of /proc, 1/${CLOCK_TICKS} s).\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
