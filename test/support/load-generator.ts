import { randomBytes, randomUUID } from 'node:crypto';
import { signDigest } from '../../adapters/pkcs11/keys';
import { TokenSessionPool } from '../../adapters/pkcs11/session-pool';
import { readSecret } from '../../adapters/secrets';
import type { HsmNodeConfig } from '../../domain/config';
import { HOUR_MS } from '../../domain/prediction/series';
import type { RunningSystem } from '../../workers/system';

export interface TargetVersion {
  key: string;
  kid: string;
  fingerprint: string;
}

/**
 * Plays an application and its HSM's access log: it signs through PKCS#11 on one node's token with a session of its
 * own, and reports each burst as an access-log event through POST /usage, as a log shipper would. It can also replay
 * older history (hourly counts in the past) as a log backfill.
 */
export class UsageLoadGenerator {
  private constructor(
    private readonly system: RunningSystem,
    private readonly token: string,
    private readonly node: HsmNodeConfig,
    private readonly pool: TokenSessionPool,
  ) {}

  static open(system: RunningSystem, token: string, nodeIndex = 0): UsageLoadGenerator {
    const node = system.config.hsm.nodes[nodeIndex] as HsmNodeConfig;
    const pool = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, `node ${node.id}: PIN`), size: 1 });
    return new UsageLoadGenerator(system, token, node, pool);
  }

  /** Signs `times` times with the version's private key on this node, then reports them as one event. */
  async sign(target: TargetVersion, times: number, app: string): Promise<void> {
    for (let i = 0; i < times; i++) {
      await signDigest(this.pool, { fingerprint: target.fingerprint, data: randomBytes(32).toString('base64') });
    }
    await this.report([{ ts: new Date().toISOString(), key: target.key, kid: target.kid, op: 'sign', app, node: this.node.id, count: times, eventId: randomUUID() }]);
  }

  /** Reports `countsByHour[i]` signatures in each hour that ended before the current one, oldest first. */
  async backfill(target: TargetVersion, countsByHour: readonly number[], app: string): Promise<void> {
    const currentHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    const events = countsByHour.flatMap((count, i) => {
      if (count === 0) return [];
      const ts = new Date(currentHour - (countsByHour.length - i) * HOUR_MS + 30 * 60_000).toISOString();
      return [{ ts, key: target.key, kid: target.kid, op: 'sign', app, node: this.node.id, count, eventId: randomUUID() }];
    });
    await this.report(events);
  }

  private async report(events: unknown[]): Promise<void> {
    const reply = await this.system.app.inject({ method: 'POST', url: '/usage', headers: { authorization: `Bearer ${this.token}` }, payload: events as Record<string, unknown>[] });
    if (reply.statusCode !== 200) throw new Error(`POST /usage answered ${reply.statusCode}: ${reply.body}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
