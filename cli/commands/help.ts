/** The closing section of a command's help: the example command lines as typed, then notes, a paragraph each. */
export function exampleHelp(lines: string[], ...notes: string[]): string {
  return ['', 'Example:', ...lines.map((line) => `  $ ${line}`), ...notes.flatMap((note) => ['', note])].join('\n');
}

/** What the commands that run a service need in their environment, as their examples write it. */
export const SERVICE_ENVIRONMENT = 'DATABASE_URL=postgres://... TEMPORAL_ADDRESS=temporal:7233';
