import { hostname } from 'node:os';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TokenSessionPool } from '../adapters/pkcs11/session-pool';
import { readSecret } from '../adapters/secrets';
import { createHsmAccessLogActivities } from '../activities/hsm-access-log-activities';
import { createHsmActivities } from '../activities/hsm-activities';
import { createHsmEnvelopeActivities } from '../activities/hsm-envelope-activities';
import { createHsmKeyActivities } from '../activities/hsm-key-activities';
import { createHsmKeymapActivities } from '../activities/hsm-keymap-activities';
import { nodeEntropyHarvester } from '../adapters/entropy/node-harvester';
import { cpuJitterSource, deviceSource, hsmRngSource, hsmTimingSource, osRngSource } from '../adapters/entropy/sources';
import type { EntropyConfig, HsmNodeConfig } from '../domain/config';
import { hmacDrbgSelfTest } from '../domain/drbg/hmac-drbg';
import { hsmTaskQueue } from '../domain/identifiers';

export interface RunningWorker {
  name: string;
  /** Settles when the worker has stopped; rejects if it failed. */
  done: Promise<void>;
  /** Stops polling, lets running activities finish within the grace time, then releases the HSM. */
  shutdown(): Promise<void>;
}

export interface HsmWorkerOptions {
  node: HsmNodeConfig;
  connection: NativeConnection;
  namespace: string;
  shutdownGraceMs: number;
  entropy: EntropyConfig;
}

/** How many HSM steps a worker runs at once per session of its pool (workers wait in the pool for a session). */
export const HSM_STEPS_PER_SESSION = 4;

/** One worker per HSM node, on task queue `hsm.<node>`, holding that token's session pool. */
export async function startHsmWorker(options: HsmWorkerOptions): Promise<RunningWorker> {
  const { node, connection, namespace, shutdownGraceMs, entropy } = options;
  // SP 800-90A section 11.3: a DRBG that fails its known answers must not serve; the worker does not start.
  hmacDrbgSelfTest();
  const pool = TokenSessionPool.open({
    nodeId: node.id,
    modulePath: node.modulePath,
    tokenLabel: node.tokenLabel,
    pin: readSecret(node.pin, `node ${node.id}: PIN`),
    size: node.sessionPoolSize,
  });
  const harvester = nodeEntropyHarvester(node.id, [
    hsmRngSource(pool),
    hsmTimingSource(pool),
    cpuJitterSource(),
    ...(entropy.devicePath ? [deviceSource(entropy.devicePath)] : []),
    osRngSource(),
  ], entropy);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace,
      taskQueue: hsmTaskQueue(node.id),
      identity: `keyrotor-hsm-${node.id}@${hostname()}`,
      activities: { ...createHsmActivities(pool), ...createHsmKeyActivities(pool, harvester), ...createHsmEnvelopeActivities(pool), ...createHsmKeymapActivities(pool), ...createHsmAccessLogActivities() },
      shutdownGraceTime: shutdownGraceMs,
      // More steps than sessions: a generation or an import waits its turn to create objects on the token
      // (createObjectsAlone) before it borrows a session, and with one slot per session such waiters filled every slot
      // while the sessions stood idle, so a ping or a wrap queued behind them. Steps beyond the sessions wait in the pool.
      maxConcurrentActivityTaskExecutions: node.sessionPoolSize * HSM_STEPS_PER_SESSION,
    });
  } catch (error) {
    await pool.close();
    throw error;
  }
  // The pool closes only after the worker has stopped, so no PKCS#11 call is in flight at C_Finalize.
  const done = worker.run().finally(() => pool.close(shutdownGraceMs + 5000));
  return {
    name: `hsm worker ${node.id}`,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
