import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/tool-paths';
import { runAsync, startLongRunning, type LongRunning } from '../support/cli';
import { FIRST_ADMIN_TOKEN, READY, npmStartEnvironment } from '../support/npm-start';
import { outputShape, readQuickStart, seenAsRecorded } from '../support/quick-start';

const MARK = '@@quick-start';
/** What the README's export line has where a reader pastes the token `npm start` printed. */
const TOKEN_PLACEHOLDER = 'kr_…';

/**
 * The README's quick start, run as a reader runs it: `npm start` on a fresh data folder (its own Temporal, PostgreSQL
 * and SoftHSM tokens, so the README's key name cannot meet another test's), then every `export`/`source` line and
 * every `$ ` command of the section, as written, in one bash, and each command's output compared with the output the
 * README recorded under it, by shape (test/support/quick-start.ts). Only the addresses and the data folder differ from
 * a reader's (who has the defaults): free ports and a fresh folder, passed through the environment (KEYROTOR_API, the
 * port settings, KEYROTOR_DATA_DIR).
 */
describe('the README quick start', () => {
  let running: LongRunning | undefined;

  afterAll(async () => {
    await running?.stop('SIGTERM', 60_000);
  });

  it('runs as written and prints what the README shows', async () => {
    const quickStart = readQuickStart(readFileSync(join(projectRoot, 'README.md'), 'utf8'));
    // The section's parts, so that a README that loses one fails here rather than passing with less.
    const parts = [
      'npx keyrotor keys create ',
      'JWT=$(npx tsx examples/sign-jwt.ts ',
      'npx tsx examples/verify-jwt.ts "$JWT"',
      'npx keyrotor keys rotate ',
      'npx keyrotor keys grace ',
      'npx keyrotor keys rotate ',
      'npx keyrotor audit list ',
      'npx keyrotor audit verify',
    ];
    expect(quickStart.steps.map(({ command }, index) => (command.startsWith(parts[index] ?? '-') ? parts[index] : command))).toEqual(parts);
    const tokenLine = quickStart.setup.findIndex((line) => line.includes(TOKEN_PLACEHOLDER));
    expect(tokenLine).toBeGreaterThanOrEqual(0);

    const { env, ports } = await npmStartEnvironment('quick-start-');
    running = startLongRunning('npm', ['start'], env);
    const [, adminToken] = await running.waitFor(FIRST_ADMIN_TOKEN, 240_000);
    await running.waitFor(READY, 30_000);

    // One bash, as one terminal: the export and source lines hold for every command, and JWT=$(…) for the next one.
    // Each line is framed by marks that carry its exit code, to cut the output into the commands' outputs; the setup
    // lines print nothing. The token goes only into what runs: what the test shows is the README's line.
    const lines = [...quickStart.setup.map((command) => ({ command, recorded: [] })), ...quickStart.steps].map((step, index) => ({
      ...step,
      typed: index === tokenLine ? step.command.replace(TOKEN_PLACEHOLDER, adminToken!) : step.command,
    }));
    const script = lines.flatMap((line, index) => [
      `printf '${MARK} start ${index}\\n'; printf '${MARK} start ${index}\\n' >&2`,
      line.typed,
      `printf '${MARK} exit ${index} %s\\n' "$?"`,
    ]).join('\n');
    // The rotation alone waits its publication lead (1 minute): generous for a loaded machine, still bounded.
    const run = await runAsync('bash', ['-c', script], { ...env, KEYROTOR_API: `http://127.0.0.1:${ports.api}` }, 900_000);

    const outputs = new Map<number, { exit: number | null; lines: string[] }>();
    let current: { exit: number | null; lines: string[] } | undefined;
    for (const line of run.stdout.split('\n')) {
      const mark = new RegExp(`^${MARK} (start|exit) (\\d+)(?: (\\d+))?$`).exec(line);
      if (mark?.[1] === 'start') {
        current = { exit: null, lines: [] };
        outputs.set(Number(mark[2]), current);
      } else if (mark?.[1] === 'exit' && current) {
        current.exit = Number(mark[3]);
        current = undefined;
      } else if (current) {
        current.lines.push(line);
      } else if (line.trim() !== '') {
        throw new Error(`output outside any quick-start command: ${line}\n${run.stderr}`);
      }
    }
    const stderrOf = (index: number): string => run.stderr.split(`${MARK} start ${index}\n`)[1]?.split(`${MARK} start`)[0] ?? '';
    const compared = lines.map((step, index) => {
      const output = outputs.get(index);
      const expected = { command: step.command, exit: 0, output: outputShape(step.recorded) };
      const actual = { command: step.command, exit: output?.exit ?? `never ended (bash: ${run.code ?? 'killed'})`, output: seenAsRecorded(expected.output, outputShape(output?.lines ?? [])) };
      // A command that went wrong shows what it said on stderr too.
      return { expected, actual: JSON.stringify(actual) === JSON.stringify(expected) ? actual : { ...actual, stderr: stderrOf(index) } };
    });
    expect(compared.map(({ actual }) => actual)).toEqual(compared.map(({ expected }) => expected));
  }, 1_200_000);
});
