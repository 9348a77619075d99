import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../../cli/main';
import { runCli } from '../../support/cli';

/**
 * The bash completion as a user gets it: `keyrotor completion bash` run as a process, its script sourced by bash, and
 * the completion function asked what TAB offers after the words typed so far.
 */
describe('keyrotor completion bash', () => {
  let folder = '';
  let script = '';

  beforeAll(() => {
    const printed = runCli(['completion', 'bash'], process.env);
    expect({ code: printed.code, stderr: printed.stderr }).toEqual({ code: 0, stderr: '' });
    folder = mkdtempSync(join(tmpdir(), 'keyrotor-completion-'));
    script = join(folder, 'keyrotor.bash');
    writeFileSync(script, printed.stdout);
  });

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  /** What TAB offers after `words` (the last one is the word being completed, '' for a new one). */
  const complete = (...words: string[]): string[] => {
    const result = spawnSync('bash', ['-c', 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _keyrotor; printf "%s\\n" "${COMPREPLY[@]}"', 'bash', script, 'keyrotor', ...words], { encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return result.stdout.split('\n').filter((line) => line !== '');
  };

  it('registers itself for the keyrotor command', () => {
    const result = spawnSync('bash', ['-c', 'source "$1"; complete -p keyrotor', 'bash', script], { encoding: 'utf8' });
    expect(result.stdout.trim()).toBe('complete -o default -F _keyrotor keyrotor');
  });

  it('completes command names: ke → keys (and keymap), keys ro → rotate', () => {
    expect(complete('ke')).toEqual(['keys', 'keymap']);
    expect(complete('key')).toEqual(['keys', 'keymap']);
    expect(complete('keys', 'ro')).toEqual(['rotate']);
    expect(complete('keys', 'r')).toEqual(['rotate', 'resume']);
    expect(complete('tokens', '')).toEqual(['create', 'list', 'revoke']);
  });

  it('offers every command keyrotor --help lists, and nothing it hides', () => {
    const program = buildProgram();
    const listed = program.createHelp().visibleCommands(program).map((command) => command.name()).filter((name) => name !== 'help');
    expect(complete('')).toEqual(listed);
    expect(listed).toEqual(expect.arrayContaining(['start', 'keys', 'alerts', 'audit', 'keymap', 'tokens', 'jwks', 'ea', 'sts', 'completion']));
    expect(complete('provision')).toEqual(['provision']);
  });

  it('completes the options of the command typed so far, past the options and values already given', () => {
    expect(complete('keys', 'rotate', '--e')).toEqual(['--emergency']);
    expect(complete('keys', 'rotate', 'payments', '--reason', 'leak', '--y')).toEqual(['--yes']);
    expect(complete('keys', 'list', '--phase', 'grace', '--p')).toEqual(['--phase', '--prefix']);
  });

  it('completes a fixed set of values and leaves free values to the shell', () => {
    expect(complete('sts', 'bits.bin', '--format', '')).toEqual(['ascii', 'bin']);
    expect(complete('completion', 'z')).toEqual(['zsh']);
    // A key name or a reason is the user's to type: nothing offered, bash falls back to file names (-o default).
    expect(complete('keys', 'rotate', '--reason', '')).toEqual([]);
  });
});
