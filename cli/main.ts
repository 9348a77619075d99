import { Command, CommanderError } from 'commander';
import { KeyrotorError, UserError } from '../domain/errors';
import { registerCommands } from './commands';

/** Builds the command tree; every subcommand lives in cli/commands/ and registers itself there. */
export function buildProgram(): Command {
  const program = new Command('keyrotor')
    .description('Predictive key rotation and measured entropy for HSM clusters')
    .showHelpAfterError('(run keyrotor --help for the commands)')
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Runs the command line and returns the exit code. Failures print what went wrong and what to do next. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof KeyrotorError) {
      process.stderr.write(`keyrotor: ${error.message}\n`);
      return error instanceof UserError ? 2 : 1;
    }
    process.stderr.write(`keyrotor: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
