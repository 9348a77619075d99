import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isClean, printTable, type FaultScenario, type ScenarioResult } from './report';
import { stopEveryStack } from './stack';

/**
 * `npm run faults [-- --json] [--only NAME] [--quick]`: runs every scenario in test/faults/scenarios/ one after the
 * other (each starts its own stack), prints the table (or `{"scenarios": [...]}` with --json), and exits 1 when a
 * row is not clean. Progress goes to stderr, so --json output stays parseable.
 */

interface Options {
  json: boolean;
  quick: boolean;
  only: string[];
}

function parseArgs(args: string[]): Options {
  const options: Options = { json: false, quick: false, only: [] };
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    if (arg === '--json') options.json = true;
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--only') {
      const name = args[index + 1];
      if (!name) throw new Error('--only needs a scenario name (a file name in test/faults/scenarios/ without .ts, or the name it prints)');
      options.only.push(name);
      index += 1;
    } else if (arg?.startsWith('--only=')) options.only.push(arg.slice('--only='.length));
    else throw new Error(`unknown option '${arg ?? ''}'; use --json, --quick and --only NAME`);
  }
  return options;
}

async function loadScenarios(only: string[]): Promise<FaultScenario[]> {
  const folder = join(__dirname, 'scenarios');
  const files = readdirSync(folder).filter((file) => file.endsWith('.ts')).sort();
  const scenarios: FaultScenario[] = [];
  for (const file of files) {
    const loaded = (await import(join(folder, file))) as { scenario?: FaultScenario };
    if (!loaded.scenario) throw new Error(`test/faults/scenarios/${file} exports no \`scenario\``);
    const stem = basename(file, '.ts');
    if (only.length === 0 || only.includes(stem) || only.includes(loaded.scenario.name)) scenarios.push(loaded.scenario);
  }
  if (scenarios.length === 0) throw new Error(`no scenario matches ${only.join(', ')} (files: ${files.join(', ')})`);
  return scenarios;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const scenarios = await loadScenarios(options.only);
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const started = Date.now();
    const log = (line: string): void => {
      process.stderr.write(`[${scenario.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
    };
    log(options.quick ? 'starting (quick)' : 'starting');
    try {
      results.push(...(await scenario.run({ quick: options.quick, log })));
    } catch (error) {
      log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      results.push({ name: scenario.name, runs: 1, completed: 0, duplicates: 0, orphans: 0, lost: 0, stranded: 0, maxRecoveryS: 0, notes: [`the scenario itself failed: ${error instanceof Error ? error.message : String(error)}`] });
    }
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  process.stdout.write(options.json ? `${JSON.stringify({ scenarios: results }, null, 2)}\n` : printTable(results));
  return results.every(isClean) ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`${signal}: stopping the stacks\n`);
    void stopEveryStack().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
