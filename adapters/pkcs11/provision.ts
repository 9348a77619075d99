import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as pkcs11js from 'pkcs11js';
import type { HsmNodeConfig, KeyrotorConfig } from '../../domain/config';
import { ConfigError, KeyrotorError } from '../../domain/errors';
import { CLUSTER_WRAPPING_KEY_LABELS, type ClusterWrappingKeyLabel } from '../../domain/identifiers';
import { describeSecretSource, readSecret, removeSecretFile, writeSecretFile } from '../secrets';
import { HsmError, toHsmError } from './errors';
import { acquireModule, releaseModule } from './module-registry';
import { TokenSessionPool } from './session-pool';
import { findObjects, readAttributes, slotsWithLabel, tokenSummary } from './token';

export interface ProvisionReport {
  createdTokens: string[];
  /** Per cluster wrapping key: created now or present, and its check value (first three bytes of AES-ECB(key, 0^16), hex), the same on every node. */
  wrappingKeys: Record<ClusterWrappingKeyLabel, { state: 'present' | 'created'; checkValue: string }>;
}

type Log = (message: string) => void;

/** Points SoftHSM at the project's own token folder, unless the operator chose a configuration already. */
export function useProjectSoftHsmConfig(config: KeyrotorConfig): void {
  if (process.env.SOFTHSM2_CONF || !config.hsm.nodes.some((node) => node.provision === 'softhsm')) return;
  const tokenDir = `${config.dataDir}/softhsm/tokens`;
  const confFile = `${config.dataDir}/softhsm/softhsm2.conf`;
  mkdirSync(config.dataDir, { recursive: true });
  // Only the SoftHSM folders are private; the data folder must stay traversable for the embedded PostgreSQL user.
  mkdirSync(`${config.dataDir}/softhsm`, { recursive: true, mode: 0o700 });
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  if (!existsSync(confFile)) {
    writeFileSync(confFile, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  }
  process.env.SOFTHSM2_CONF = confFile;
}

interface NodeState {
  node: HsmNodeConfig;
  tokenExists: boolean;
  /** Check value of each cluster wrapping key the token holds. */
  checkValues: Partial<Record<ClusterWrappingKeyLabel, string>>;
}

const wrappingKeySearch = (label: ClusterWrappingKeyLabel): pkcs11js.Template => [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_LABEL, value: label },
];

/** Reads a wrapping key's check value on a logged-in session, or undefined when the token has none. */
function readCheckValue(pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle, nodeId: string, label: ClusterWrappingKeyLabel): string | undefined {
  const handles = findObjects(pkcs11, session, wrappingKeySearch(label));
  if (handles.length === 0) return undefined;
  if (handles.length > 1) throw new HsmError(nodeId, undefined, `${handles.length} objects are labelled ${label}; remove the extra ones`, false);
  const check = readAttributes(pkcs11, session, handles[0] as pkcs11js.Handle, [pkcs11js.CKA_CHECK_VALUE]).get(pkcs11js.CKA_CHECK_VALUE);
  if (!check || check.length === 0) throw new HsmError(nodeId, undefined, `${label} has no check value; it was not created by keyrotor provisioning`, false);
  return check.toString('hex');
}

/** Checks one node without changing it: module, token, PIN, KEK. Problems are collected, each naming the node and fix. */
async function inspectNode(node: HsmNodeConfig, problems: string[]): Promise<NodeState | undefined> {
  let pkcs11: pkcs11js.PKCS11;
  try {
    pkcs11 = acquireModule(node.id, node.modulePath);
  } catch (error) {
    problems.push((error as Error).message);
    return undefined;
  }
  try {
    const matches = slotsWithLabel(pkcs11, node.tokenLabel).length;
    if (matches === 0) {
      if (node.provision === 'softhsm') return { node, tokenExists: false, checkValues: {} };
      problems.push(`node ${node.id}: no token labelled '${node.tokenLabel}' on ${node.modulePath}; create it with the HSM's tools or fix the node's tokenLabel`);
      return undefined;
    }
    let pin: string;
    try {
      pin = readSecret(node.pin, `node ${node.id}: PIN`);
    } catch (error) {
      const hint = node.provision === 'softhsm'
        ? ` (token '${node.tokenLabel}' exists but its PIN is gone: restore it, or delete the token with softhsm2-util --delete-token --token ${node.tokenLabel} to provision it anew)`
        : '';
      problems.push(`${(error as Error).message}${hint}`);
      return undefined;
    }
    const pool = TokenSessionPool.open({ nodeId: node.id, modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin, size: 1 });
    try {
      const checkValues = await pool.withSession('reading the cluster wrapping keys', ({ session }) => {
        const found: Partial<Record<ClusterWrappingKeyLabel, string>> = {};
        for (const label of CLUSTER_WRAPPING_KEY_LABELS) {
          const value = readCheckValue(pool.pkcs11, session, node.id, label);
          if (value !== undefined) found[label] = value;
        }
        return found;
      });
      return { node, tokenExists: true, checkValues };
    } finally {
      await pool.close();
    }
  } catch (error) {
    const message = (error as Error).message;
    problems.push(message.includes('PIN') ? `${message} (PIN from ${describeSecretSource(node.pin)})` : message);
    return undefined;
  } finally {
    releaseModule(node.modulePath);
  }
}

function kekCheckValueOf(kek: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ecb', kek, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.alloc(16)), cipher.final()]).subarray(0, 3);
}

function newPin(): string {
  return randomBytes(18).toString('base64url');
}

/** Creates a SoftHSM token on the module's free slot: label, SO PIN, user PIN. */
function createSoftHsmToken(node: HsmNodeConfig, soPin: string, pin: string): void {
  const pkcs11 = acquireModule(node.id, node.modulePath);
  try {
    const free = pkcs11.C_GetSlotList(true).find((slot) => !tokenSummary(pkcs11, slot).initialized);
    if (!free) throw new HsmError(node.id, undefined, 'the module has no free slot to create a token in', false);
    pkcs11.C_InitToken(free, soPin, node.tokenLabel);
    const session = pkcs11.C_OpenSession(free, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
      pkcs11.C_InitPIN(session, pin);
      pkcs11.C_Logout(session);
    } finally {
      pkcs11.C_CloseSession(session);
    }
  } catch (error) {
    throw toHsmError(node.id, `creating token '${node.tokenLabel}'`, error);
  } finally {
    releaseModule(node.modulePath);
  }
}

function deleteSoftHsmToken(label: string): void {
  spawnSync('softhsm2-util', ['--delete-token', '--token', label], { stdio: 'ignore' });
}

/** Runs `work` on a read-write session logged in as the Security Officer of the node's token. */
function asSecurityOfficer(node: HsmNodeConfig, operation: string, work: (pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle) => void): void {
  if (!node.soPin) {
    throw new HsmError(node.id, undefined, `${operation} needs the Security Officer PIN and no soPin is configured; add soPin or do it with the HSM vendor's tools`, false);
  }
  const soPin = readSecret(node.soPin, `node ${node.id}: SO PIN`);
  const pkcs11 = acquireModule(node.id, node.modulePath);
  try {
    const [slot] = slotsWithLabel(pkcs11, node.tokenLabel);
    if (!slot) throw new HsmError(node.id, 'CKR_TOKEN_NOT_PRESENT', `token '${node.tokenLabel}' disappeared during provisioning`, false);
    const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
      try {
        work(pkcs11, session);
      } finally {
        pkcs11.C_Logout(session);
      }
    } finally {
      pkcs11.C_CloseSession(session);
    }
  } catch (error) {
    throw toHsmError(node.id, operation, error);
  } finally {
    releaseModule(node.modulePath);
  }
}

/**
 * Puts a wrapping key on one token. CKA_TRUSTED can be set only by the SO and only at creation, and the SO handles
 * only public objects, so the key is a public but sensitive, non-extractable secret key.
 */
function createWrappingKey(node: HsmNodeConfig, label: ClusterWrappingKeyLabel, value: Buffer, checkValue: Buffer): void {
  asSecurityOfficer(node, `creating ${label}`, (pkcs11, session) => {
    // Every usage flag explicit: SoftHSM turns on usages that a template leaves out.
    pkcs11.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: Buffer.from(label) },
      { type: pkcs11js.CKA_VALUE, value },
      { type: pkcs11js.CKA_CHECK_VALUE, value: checkValue },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_TRUSTED, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: false },
      { type: pkcs11js.CKA_DECRYPT, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
      { type: pkcs11js.CKA_MODIFIABLE, value: false },
    ]);
  });
}

function destroyWrappingKey(node: HsmNodeConfig, label: ClusterWrappingKeyLabel): void {
  asSecurityOfficer(node, `removing a half-provisioned ${label}`, (pkcs11, session) => {
    for (const handle of findObjects(pkcs11, session, wrappingKeySearch(label))) pkcs11.C_DestroyObject(session, handle);
  });
}

/**
 * Makes every node ready: checks all of them first without changing anything, then creates the missing SoftHSM tokens
 * and the cluster KEK. A failure part-way undoes what this run made, so a failed start leaves no half-made state.
 */
export async function provisionCluster(config: KeyrotorConfig, log: Log): Promise<ProvisionReport> {
  useProjectSoftHsmConfig(config);
  const problems: string[] = [];
  const states: NodeState[] = [];
  for (const node of config.hsm.nodes) {
    const state = await inspectNode(node, problems);
    if (state) states.push(state);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const plan = new Map<ClusterWrappingKeyLabel, string | undefined>();
  for (const label of CLUSTER_WRAPPING_KEY_LABELS) {
    const holders = states.filter((state) => state.checkValues[label] !== undefined);
    const distinct = new Set(holders.map((state) => state.checkValues[label]));
    if (distinct.size > 1) {
      throw new ConfigError([`the nodes hold different ${label} keys (${holders.map((s) => `${s.node.id}: ${s.checkValues[label]}`).join(', ')}); they cannot exchange keys`]);
    }
    if (holders.length > 0 && holders.length < states.length) {
      const lacking = states.filter((state) => state.checkValues[label] === undefined).map((state) => state.node.id);
      throw new ConfigError([
        `node(s) ${lacking.join(', ')} lack the ${label} that ${holders.map((s) => s.node.id).join(', ')} hold; its value never leaves the HSMs, so clone it with the HSM vendor's tools (for SoftHSM: provision the whole cluster anew)`,
      ]);
    }
    plan.set(label, holders[0]?.checkValues[label]);
  }

  const createdTokens: HsmNodeConfig[] = [];
  const writtenSecrets: string[] = [];
  const createdKeys: Array<{ node: HsmNodeConfig; label: ClusterWrappingKeyLabel }> = [];
  const undo = (): void => {
    for (const { node, label } of createdKeys) {
      try {
        destroyWrappingKey(node, label);
      } catch (error) {
        log(`could not remove the new ${label} from node ${node.id} (${(error as Error).message}); remove it by hand`);
      }
    }
    for (const node of createdTokens) deleteSoftHsmToken(node.tokenLabel);
    for (const file of writtenSecrets) removeSecretFile(file);
  };
  try {
    for (const state of states.filter((s) => !s.tokenExists)) {
      const { node } = state;
      if (!('file' in node.pin) || !node.soPin || !('file' in node.soPin)) {
        throw new ConfigError([`node ${node.id}: keyrotor can create a SoftHSM token only when its pin and soPin are files it may write`]);
      }
      log(`creating SoftHSM token '${node.tokenLabel}' for node ${node.id}`);
      const pin = newPin();
      const soPin = newPin();
      // The PINs reach the disk before the token exists, so a crash in between cannot leave a token nobody can open.
      writeSecretFile(node.soPin.file, soPin);
      writtenSecrets.push(node.soPin.file);
      writeSecretFile(node.pin.file, pin);
      writtenSecrets.push(node.pin.file);
      createSoftHsmToken(node, soPin, pin);
      createdTokens.push(node);
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
        for (const state of states) {
          createWrappingKey(state.node, label, value, checkValue);
          createdKeys.push({ node: state.node, label });
        }
        wrappingKeys[label] = { state: 'created', checkValue: checkValue.toString('hex') };
      } finally {
        // The clear key lives only in this buffer, for the length of this loop.
        value.fill(0);
      }
    }
    return { createdTokens: createdTokens.map((n) => n.id), wrappingKeys };
  } catch (error) {
    undo();
    if (error instanceof KeyrotorError) throw error;
    throw new ConfigError([(error as Error).message]);
  }
}
