import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../scripts/tool-paths';
import { runCli } from '../../support/cli';
import { randomBytes } from '../sp800-90b/random-bytes';

/**
 * Progress of long work shows on a terminal and nowhere else: `keyrotor ea` run with its output on a pipe prints no
 * progress, run on a pseudo-terminal (util-linux `script`) shows each estimator as it runs, and with --json does not.
 */
describe('progress of long work', () => {
  let folder = '';
  let samples = '';

  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'keyrotor-progress-'));
    samples = join(folder, 'samples.bin');
    writeFileSync(samples, randomBytes(20_000, 'progress'));
  });

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  /** Runs keyrotor with stdin, stdout and stderr on a pseudo-terminal; returns everything it wrote there. */
  const onTerminal = (args: string[]): { code: number | null; output: string } => {
    const command = ['node', 'bin/keyrotor.js', ...args].map((word) => `'${word}'`).join(' ');
    const result = spawnSync('script', ['--quiet', '--return', '--command', command, '/dev/null'], { cwd: projectRoot, encoding: 'utf8', timeout: 120_000 });
    return { code: result.status, output: result.stdout };
  };

  it('prints none when stderr is not a terminal', () => {
    const result = runCli(['ea', samples, '--bits-per-sample', '8'], process.env);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^H_original: {2}\d\.\d{6} bits per sample$/m);
  });

  it('shows each estimator as it runs on a terminal, and nothing of it with --json', () => {
    const shown = onTerminal(['ea', samples, '--bits-per-sample', '8']);
    expect(shown.code).toBe(0);
    expect(shown.output).toContain('MultiMMC on the original…');
    expect(shown.output).toContain('on the bitstring…');
    expect(shown.output).toMatch(/H_original: {2}\d\.\d{6} bits per sample/);

    const json = onTerminal(['ea', samples, '--bits-per-sample', '8', '--json']);
    expect(json.code).toBe(0);
    expect(json.output).not.toContain('…');
    expect(json.output).toContain('"estimator": "Overall"');
  });
});
