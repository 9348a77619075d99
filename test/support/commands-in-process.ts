import { Command } from 'commander';
import { registerSts } from '../../cli/commands/sts';

/** One row of `keyrotor sts --json`. */
export interface StsJsonRow {
  stream: number;
  test: string;
  subtest: string;
  pValue: number | null;
  reason?: string;
}

/** Runs `keyrotor sts ARGS` in this process and returns what it printed on stdout. */
export function runSts(args: string[]): Promise<string> {
  return runCommand(registerSts, ['sts', ...args]);
}

/** Runs `keyrotor WORDS` in this process, with only the commands `register` declares, and returns what it printed on stdout. */
export async function runCommand(register: (program: Command) => void, words: string[]): Promise<string> {
  const program = new Command('keyrotor').exitOverride().configureOutput({ writeErr: () => undefined });
  register(program);
  const chunks: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  });
  try {
    await program.parseAsync(['node', 'keyrotor', ...words]);
  } finally {
    write.mockRestore();
  }
  return chunks.join('');
}
