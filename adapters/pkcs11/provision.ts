import { createCipheriv, randomBytes } from 'node:crypto';
import type { KeyrotorConfig } from '../../domain/config';
import { ConfigError, KeyrotorError } from '../../domain/errors';
import { CLUSTER_WRAPPING_KEY_LABELS, type ClusterWrappingKeyLabel } from '../../domain/identifiers';
import { HsmError } from './errors';
import { keepOwnTokenObjects, sharedModuleEnv, useModuleEnvironment } from './module-environment';
import { startNodeProcess } from './provision-node';
import { localNodeSteps, pinFilesOf, type NodeState, type NodeSteps } from './provision-steps';

export interface ProvisionReport {
  createdTokens: string[];
  /** Per cluster wrapping key: created now or present, and its check value (first three bytes of AES-ECB(key, 0^16), hex), the same on every node. */
  wrappingKeys: Record<ClusterWrappingKeyLabel, { state: 'present' | 'created'; checkValue: string }>;
}

type Log = (message: string) => void;

class ConfirmFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('the confirm step of provisioning failed');
  }
}

/**
 * Asked once every node is ready, before provisioning returns: a throw (the database records other wrapping keys, say)
 * undoes what this run made, as any failure part-way does, and is what provisioning throws.
 */
export type ProvisionConfirm = (report: ProvisionReport) => Promise<void>;

function kekCheckValueOf(kek: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ecb', kek, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.alloc(16)), cipher.final()]).subarray(0, 3);
}

/**
 * Makes every node ready: checks all of them first without changing anything, then creates the missing SoftHSM tokens
 * and the cluster wrapping keys. A failure part-way undoes what this run made, so a failed start leaves no half-made
 * state. Nodes that share one module environment are driven from this process; when their environments differ (a
 * SoftHSM token folder per node, say), each node is driven by a child process of its own with its environment, and the
 * wrapping keys' clear values reach the children only through their standard input.
 */
export async function provisionCluster(config: KeyrotorConfig, log: Log, confirm?: ProvisionConfirm): Promise<ProvisionReport> {
  const nodes = config.hsm.nodes;
  let steps: NodeSteps[];
  if (sharedModuleEnv(nodes)) {
    useModuleEnvironment(config.dataDir, nodes);
    steps = nodes.map(localNodeSteps);
  } else {
    log(`the nodes' PKCS#11 modules need environments of their own: provisioning each node in its own process`);
    steps = nodes.map((node) => startNodeProcess(config.dataDir, node));
  }
  try {
    const report = await provisionWith(steps, log, confirm);
    // The new tokens' token.object, copied before anything can leave one empty (module-environment.ts).
    keepOwnTokenObjects(config.dataDir);
    return report;
  } finally {
    await Promise.all(steps.map((step) => step.close()));
  }
}

async function provisionWith(steps: NodeSteps[], log: Log, confirm: ProvisionConfirm | undefined): Promise<ProvisionReport> {
  const problems: string[] = [];
  const states: Array<{ step: NodeSteps; state: NodeState }> = [];
  for (const step of steps) {
    const inspection = await step.inspect();
    if (inspection.state) states.push({ step, state: inspection.state });
    else problems.push(...inspection.problems);
  }
  for (const { step } of states.filter(({ state }) => !state.tokenExists)) {
    if (!pinFilesOf(step.node)) problems.push(`node ${step.node.id}: keyrotor can create a SoftHSM token only when its pin and soPin are files it may write`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const plan = new Map<ClusterWrappingKeyLabel, string | undefined>();
  for (const label of CLUSTER_WRAPPING_KEY_LABELS) {
    const holders = states.filter(({ state }) => state.checkValues[label] !== undefined);
    const distinct = new Set(holders.map(({ state }) => state.checkValues[label]));
    if (distinct.size > 1) {
      throw new ConfigError([`the nodes hold different ${label} keys (${holders.map(({ step, state }) => `${step.node.id}: ${state.checkValues[label]}`).join(', ')}); they cannot exchange keys`]);
    }
    if (holders.length > 0 && holders.length < states.length) {
      const lacking = states.filter(({ state }) => state.checkValues[label] === undefined);
      const holderIds = holders.map(({ step }) => step.node.id).join(', ');
      // A node that shows no token at all may hold its keys still, in files the module cannot read now.
      const noToken = lacking.filter(({ state }) => !state.tokenExists).map(({ step }) => `${step.node.id} (no token labelled '${step.node.tokenLabel}': never made, or its files are unreadable, such as a damaged token.object or a missing token folder)`);
      const withToken = lacking.filter(({ state }) => state.tokenExists).map(({ step }) => `${step.node.id} (its token holds no ${label})`);
      throw new ConfigError([
        `node(s) ${lacking.map(({ step }) => step.node.id).join(', ')} lack the ${label} that ${holderIds} hold: ${[...noToken, ...withToken].join('; ')}. Its value never leaves the HSMs: ` +
          `restore the node's token from a backup, or clone the key onto it with the HSM vendor's tools. Do not provision the cluster anew to mend this: ` +
          `a new ${label} cannot unwrap what the present one protects, and the keys ${holderIds} hold would be lost (only a SoftHSM development cluster with no keys to keep may start over, in an empty data folder)`,
      ]);
    }
    plan.set(label, holders[0]?.state.checkValues[label]);
  }

  const createdTokens: NodeSteps[] = [];
  const createdKeys: Array<{ step: NodeSteps; label: ClusterWrappingKeyLabel }> = [];
  const undo = async (): Promise<void> => {
    for (const { step, label } of createdKeys) {
      try {
        await step.destroyWrappingKey(label);
      } catch (error) {
        log(`could not remove the new ${label} from node ${step.node.id} (${(error as Error).message}); remove it by hand`);
      }
    }
    for (const step of createdTokens) {
      try {
        await step.deleteToken();
      } catch (error) {
        log(`could not remove the new token of node ${step.node.id} (${(error as Error).message}); remove it by hand`);
      }
    }
  };
  try {
    for (const { step } of states.filter(({ state }) => !state.tokenExists)) {
      log(`creating SoftHSM token '${step.node.tokenLabel}' for node ${step.node.id}`);
      await step.createToken();
      createdTokens.push(step);
    }
    const wrappingKeys = {} as ProvisionReport['wrappingKeys'];
    for (const label of CLUSTER_WRAPPING_KEY_LABELS) {
      const present = plan.get(label);
      if (present !== undefined) {
        wrappingKeys[label] = { state: 'present', checkValue: present };
        continue;
      }
      log(`creating ${label} on ${states.length} node(s)`);
      const value = randomBytes(32);
      try {
        const checkValue = kekCheckValueOf(value);
        const expected = checkValue.toString('hex');
        for (const { step } of states) {
          const reported = await step.createWrappingKey(label, value, checkValue);
          createdKeys.push({ step, label });
          if (reported !== expected) throw new HsmError(step.node.id, undefined, `the new ${label} reports check value ${reported}, not ${expected}; the nodes would not agree`, false);
        }
        wrappingKeys[label] = { state: 'created', checkValue: expected };
      } finally {
        // The clear key lives only in this buffer, for the length of this loop.
        value.fill(0);
      }
    }
    const report = { createdTokens: createdTokens.map((step) => step.node.id), wrappingKeys };
    try {
      await confirm?.(report);
    } catch (error) {
      throw new ConfirmFailed(error);
    }
    return report;
  } catch (error) {
    await undo();
    // The confirm step's own error (the database's, the check's), as it threw it.
    if (error instanceof ConfirmFailed) throw error.cause;
    if (error instanceof KeyrotorError) throw error;
    throw new ConfigError([(error as Error).message]);
  }
}
