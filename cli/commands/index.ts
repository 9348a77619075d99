import type { Command } from 'commander';
import { registerApiCommands } from './api-commands';
import { registerBacktest } from './backtest';
import { registerBundle } from './bundle';
import { registerCompletion } from './completion';
import { registerEa } from './ea';
import { registerHealth } from './health';
import { registerIngest } from './ingest';
import { registerKat } from './kat';
import { registerReplayCheck } from './replay-check';
import { registerServices } from './services';
import { registerStart } from './start';
import { registerWorker } from './worker';
import { registerSts } from './sts';

type Register = (program: Command) => void;

/** Subcommands, in the order `keyrotor --help` lists them. */
const commands: Register[] = [registerStart, registerServices, registerWorker, registerHealth, registerApiCommands, registerIngest, registerEa, registerKat, registerSts, registerBacktest, registerBundle, registerReplayCheck, registerCompletion];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
