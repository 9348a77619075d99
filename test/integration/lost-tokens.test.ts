import { provisionCluster } from '../../adapters/pkcs11/provision';
import { Database } from '../../adapters/postgres/database';
import { CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import type { KeyrotorConfig } from '../../domain/config';
import { listTokenLabels } from '../support/pkcs11-listing';
import { startTestSystem, testConfig } from '../support/system';
import { recordSyntheticKeys } from '../support/synthetic-keys';

/**
 * Every node's token lost, and new ones in their place (a wiped token folder): provisioning finds no cluster wrapping
 * key on any node and makes new ones, which cannot unwrap a replica or an archive of the keys the database lists.
 */
describe('a start whose nodes hold other cluster wrapping keys than those the database recorded', () => {
  it('stops with what it found and what to do while key versions depend on the recorded keys, undoes the tokens it made, and changes nothing', async () => {
    const config = await testConfig();
    const system = await startTestSystem(config);
    const recordedKeys = async (db: Database) => (await db.query<{ label: string; check_value: string }>('SELECT label, check_value FROM cluster_wrapping_keys ORDER BY label')).rows;
    let before: Array<{ label: string; check_value: string }>;
    try {
      before = await recordedKeys(system.db);
      expect(before.map((row) => row.label).sort()).toEqual(expect.arrayContaining([CLUSTER_KEK_LABEL]));
      expect(before.every((row) => /^[0-9a-f]{6}$/.test(row.check_value))).toBe(true);
      await recordSyntheticKeys(system.db, { prefix: 'lost-', count: 2, nodeId: (config.hsm.nodes[0] as { id: string }).id });
    } finally {
      await system.stop();
    }

    // The same nodes and database; each node's token a new one (another label: the old tokens stay out of reach).
    const replaced: KeyrotorConfig = { ...config, hsm: { ...config.hsm, nodes: config.hsm.nodes.map((node) => ({ ...node, tokenLabel: `${node.tokenLabel.slice(0, 28)}-new` })) } };
    const lines: string[] = [];
    const refused = await startTestSystem(replaced, { log: (line) => lines.push(line) }).then(
      async (started) => {
        await started.stop();
        throw new Error('the start went on with new cluster wrapping keys');
      },
      (error: unknown) => error as { problems?: string[] },
    );
    const kek = before.find((row) => row.label === CLUSTER_KEK_LABEL)?.check_value as string;
    expect(refused.problems).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^the nodes hold a ${CLUSTER_KEK_LABEL} with check value (?!${kek})[0-9a-f]{6}, made by this start because no node held one, not the ${kek} recorded, while the database lists 2 key\\(s\\)`)),
    ]));
    expect(lines.some((line) => line.includes(`creating ${CLUSTER_KEK_LABEL}`))).toBe(true);
    // What that start made on the nodes is undone: the new tokens are gone, the old ones are there.
    const labels = listTokenLabels(config.hsm.nodes[0]?.modulePath as string);
    expect(replaced.hsm.nodes.filter((node) => labels.includes(node.tokenLabel))).toEqual([]);
    expect(config.hsm.nodes.filter((node) => !labels.includes(node.tokenLabel))).toEqual([]);
    const db = Database.connect(config.database.url as string);
    try {
      expect(await recordedKeys(db)).toEqual(before);
    } finally {
      await db.close();
    }
  });
  it('undoes what provisioning made when the step that confirms it fails, and passes that failure on as it was', async () => {
    const config = await testConfig();
    const failure = new TypeError('the database could not be opened');
    const seen: string[][] = [];
    await expect(provisionCluster(config, () => undefined, (report) => {
      seen.push(report.createdTokens);
      return Promise.reject(failure);
    })).rejects.toBe(failure);
    expect(seen).toEqual([config.hsm.nodes.map((node) => node.id)]);
    const labels = listTokenLabels(config.hsm.nodes[0]?.modulePath as string);
    expect(config.hsm.nodes.filter((node) => labels.includes(node.tokenLabel))).toEqual([]);
  });
});
