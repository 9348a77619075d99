import type { Command } from 'commander';
import { registerHealth } from './health';
import { registerStart } from './start';

type Register = (program: Command) => void;

/** Subcommands, in the order `keyrotor --help` lists them. */
const commands: Register[] = [registerStart, registerHealth];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
