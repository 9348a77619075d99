/**
 * The positional argument at `index` as an integer in [low, high], its default when absent. `--help` prints the usage
 * and exits 0; anything else out of range prints it with the reason and exits 2.
 */
export function integerArgument(usage: string, index: number, fallback: number, low: number, high: number): number {
  const given = process.argv[index];
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isInteger(value) || value < low || value > high) {
    const help = given === '--help' || given === '-h';
    (help ? process.stdout : process.stderr).write(`${usage}\n${help ? '' : `not an integer from ${low} to ${high}: ${given}\n`}`);
    process.exit(help ? 0 : 2);
  }
  return value;
}
