import { join } from 'node:path';
import { projectRoot } from '../../scripts/tool-paths';
import { startLongRunning, type LongRunning } from './cli';

export interface EmbeddedCluster {
  url: string;
  ownerUrl: string;
  superuserUrl: string;
  stop(): Promise<void>;
}

/** keyrotor's embedded PostgreSQL with its roles, started by startEmbeddedPostgres in a child process. */
export async function startEmbeddedCluster(dataDir: string, port: number): Promise<EmbeddedCluster> {
  const child: LongRunning = startLongRunning(join(projectRoot, 'node_modules/.bin/tsx'), [join(__dirname, 'embedded-postgres-main.ts'), dataDir, String(port)], process.env);
  const [line] = await child.waitFor(/^\{"url".*\}$/m, 120_000);
  const urls = JSON.parse(line) as Omit<EmbeddedCluster, 'stop'>;
  return {
    ...urls,
    stop: async () => {
      const code = await child.stop('SIGTERM', 20_000);
      if (code !== 0) throw new Error(`the embedded PostgreSQL process ended with ${code}:\n${child.output()}`);
    },
  };
}
