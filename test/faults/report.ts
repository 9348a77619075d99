/** One row of the fault suite's table: a scenario (or one part of it) and what its runs left behind. */
export interface ScenarioResult {
  name: string;
  runs: number;
  /** Runs after which every invariant's `completed` held. */
  completed: number;
  duplicates: number;
  orphans: number;
  lost: number;
  stranded: number;
  /** The worst time from the fault's end (worker back, server back, system restarted) to the key moving again. */
  maxRecoveryS: number;
  /** Scenario 5: verifications of a genuine token that failed. */
  failedVerifications?: number;
  notes?: string[];
}

/** A scenario file's export: `run` drives its faults and answers one row per part. */
export interface FaultScenario {
  name: string;
  run(options: { quick: boolean; log: (line: string) => void }): Promise<ScenarioResult[]>;
}

const COLUMNS: Array<{ title: string; cell: (result: ScenarioResult) => string }> = [
  { title: 'scenario', cell: (r) => r.name },
  { title: 'runs', cell: (r) => String(r.runs) },
  { title: 'completed', cell: (r) => String(r.completed) },
  { title: 'duplicates', cell: (r) => String(r.duplicates) },
  { title: 'orphans', cell: (r) => String(r.orphans) },
  { title: 'lost', cell: (r) => String(r.lost) },
  { title: 'stranded', cell: (r) => String(r.stranded) },
  { title: 'max recovery (s)', cell: (r) => r.maxRecoveryS.toFixed(1) },
  { title: 'failed verifications', cell: (r) => (r.failedVerifications === undefined ? '—' : String(r.failedVerifications)) },
];

/** Whether a row shows a sound system: every run completed, and nothing duplicated, orphaned, lost or stranded. */
export function isClean(result: ScenarioResult): boolean {
  return result.completed === result.runs && result.duplicates + result.orphans + result.lost + result.stranded + (result.failedVerifications ?? 0) === 0;
}

/** The table `npm run faults` prints: one row per result, its notes under it. */
export function printTable(results: ScenarioResult[]): string {
  const rows = results.map((result) => COLUMNS.map((column) => column.cell(result)));
  const widths = COLUMNS.map((column, index) => Math.max(column.title.length, ...rows.map((row) => (row[index] as string).length)));
  const line = (cells: string[]): string => cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index] as number) : cell.padStart(widths[index] as number))).join('  ').trimEnd();
  const out = [line(COLUMNS.map((column) => column.title)), line(widths.map((width) => '-'.repeat(width)))];
  results.forEach((result, index) => {
    out.push(line(rows[index] as string[]));
    for (const note of result.notes ?? []) out.push(`    ${note}`);
  });
  return `${out.join('\n')}\n`;
}
