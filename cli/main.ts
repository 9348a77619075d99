import { Command, CommanderError } from 'commander';
import { KeyrotorError, UserError } from '../domain/errors';
import { ApiRefusedError, ApiUnavailableError, EXIT_CODES, EXIT_CODES_HELP } from './api-client';
import { registerCommands } from './commands';

/** Builds the command tree; every subcommand lives in cli/commands/ and registers itself there. */
export function buildProgram(): Command {
  const program = new Command('keyrotor')
    .description('Predictive key rotation and measured entropy for HSM clusters')
    .showHelpAfterError('(run keyrotor --help for the commands)')
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);
  registerCommands(program);
  return program;
}

/** Runs the command line and returns the exit code. Failures print what went wrong and what to do next. */
export async function main(argv: string[]): Promise<number> {
  // `keyrotor keys list | head` closes the pipe early: the reader's choice, not a failure to report with a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(EXIT_CODES.ok);
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // Commander has printed the help or the usage error already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    if (error instanceof KeyrotorError) {
      process.stderr.write(`keyrotor: ${error.message}\n`);
      if (error instanceof ApiRefusedError) return EXIT_CODES.refused;
      if (error instanceof ApiUnavailableError) return EXIT_CODES.unreachable;
      return error instanceof UserError ? EXIT_CODES.usage : EXIT_CODES.failed;
    }
    process.stderr.write(`keyrotor: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
