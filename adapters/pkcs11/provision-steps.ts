import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import type { HsmNodeConfig } from '../../domain/config';
import { ConfigError } from '../../domain/errors';
import { CLUSTER_WRAPPING_KEY_LABELS, type ClusterWrappingKeyLabel } from '../../domain/identifiers';
import { describeSecretSource, readSecret, removeSecretFile, writeSecretFile } from '../secrets';
import { HsmError, toHsmError } from './errors';
import { acquireModule, releaseModule } from './module-registry';
import { TokenSessionPool } from './session-pool';
import { findObjects, readAttributes, slotsWithLabel, tokenSummary } from './token';

/** What a node holds before provisioning changes anything. */
export interface NodeState {
  tokenExists: boolean;
  /** Check value of each cluster wrapping key the token holds. */
  checkValues: Partial<Record<ClusterWrappingKeyLabel, string>>;
}

/** The result of checking a node: its state, or the problems that stop provisioning (each naming the node and fix). */
export type NodeInspection = { state: NodeState; problems: [] } | { state?: undefined; problems: string[] };

/**
 * What provisioning does on one node. The same steps run in this process (nodes that share one module environment)
 * or in a child process of the node's own (provision-node.ts), so the orchestration and its guarantees are the same.
 */
export interface NodeSteps {
  readonly node: HsmNodeConfig;
  /** Checks the node without changing it. */
  inspect(): Promise<NodeInspection>;
  /** Creates the node's SoftHSM token with fresh PINs, written to the node's PIN files first. */
  createToken(): Promise<void>;
  /** Undoes createToken: the token and its PIN files. */
  deleteToken(): Promise<void>;
  /** Puts a wrapping key on the token and returns the check value the token reports for it (hex). */
  createWrappingKey(label: ClusterWrappingKeyLabel, value: Buffer, checkValue: Buffer): Promise<string>;
  destroyWrappingKey(label: ClusterWrappingKeyLabel): Promise<void>;
  close(): Promise<void>;
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
      if (node.provision === 'softhsm') return { tokenExists: false, checkValues: {} };
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
      return { tokenExists: true, checkValues };
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

/**
 * Deletes the node's SoftHSM token, if there is one. softhsm2-util is asked by serial number: it compares a label
 * blank-padded, and a token initialised through pkcs11js carries its label NUL-padded, so asking by label finds nothing.
 */
function deleteSoftHsmToken(node: HsmNodeConfig): void {
  const pkcs11 = acquireModule(node.id, node.modulePath);
  let serial: string | undefined;
  try {
    const [slot] = slotsWithLabel(pkcs11, node.tokenLabel);
    serial = slot === undefined ? undefined : tokenSummary(pkcs11, slot).serialNumber;
  } catch (error) {
    throw toHsmError(node.id, `finding token '${node.tokenLabel}'`, error);
  } finally {
    releaseModule(node.modulePath);
  }
  if (serial === undefined) return;
  // softhsm2-util finds the token folder through SOFTHSM2_CONF, which this process has set for the node.
  const result = spawnSync('softhsm2-util', ['--delete-token', '--serial', serial], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new HsmError(node.id, undefined, `softhsm2-util could not delete token '${node.tokenLabel}' (${(result.error?.message ?? result.stderr).trim()})`, false);
  }
}

/** The node's PIN files, which keyrotor may write only when both PINs come from files. */
export function pinFilesOf(node: HsmNodeConfig): { pin: string; soPin: string } | undefined {
  if (!('file' in node.pin) || !node.soPin || !('file' in node.soPin)) return undefined;
  return { pin: node.pin.file, soPin: node.soPin.file };
}

function createNodeToken(node: HsmNodeConfig): void {
  const files = pinFilesOf(node);
  if (!files) throw new ConfigError([`node ${node.id}: keyrotor can create a SoftHSM token only when its pin and soPin are files it may write`]);
  const pin = newPin();
  const soPin = newPin();
  const written: string[] = [];
  try {
    // The PINs reach the disk before the token exists, so a crash in between cannot leave a token nobody can open.
    writeSecretFile(files.soPin, soPin);
    written.push(files.soPin);
    writeSecretFile(files.pin, pin);
    written.push(files.pin);
    createSoftHsmToken(node, soPin, pin);
  } catch (error) {
    // The check before creation found no token with this label, so any token that carries it now was made here.
    deleteSoftHsmToken(node);
    for (const file of written) removeSecretFile(file);
    throw error;
  }
}

function deleteNodeToken(node: HsmNodeConfig): void {
  deleteSoftHsmToken(node);
  const files = pinFilesOf(node);
  if (files) {
    removeSecretFile(files.pin);
    removeSecretFile(files.soPin);
  }
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
function createWrappingKey(node: HsmNodeConfig, label: ClusterWrappingKeyLabel, value: Buffer, checkValue: Buffer): string {
  let reported: string | undefined;
  asSecurityOfficer(node, `creating ${label}`, (pkcs11, session) => {
    // Every usage flag explicit: SoftHSM turns on usages that a template leaves out.
    const handle = pkcs11.C_CreateObject(session, [
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
    // What the token itself reports, so that every node's key is compared, not what this process asked for.
    reported = readAttributes(pkcs11, session, handle, [pkcs11js.CKA_CHECK_VALUE]).get(pkcs11js.CKA_CHECK_VALUE)?.toString('hex');
  });
  if (!reported) throw new HsmError(node.id, undefined, `${label} was created but reports no check value`, false);
  return reported;
}

function destroyWrappingKey(node: HsmNodeConfig, label: ClusterWrappingKeyLabel): void {
  asSecurityOfficer(node, `removing a half-provisioned ${label}`, (pkcs11, session) => {
    for (const handle of findObjects(pkcs11, session, wrappingKeySearch(label))) pkcs11.C_DestroyObject(session, handle);
  });
}


/** The steps run in this process, which must have the node's module environment already (useModuleEnvironment). */
export function localNodeSteps(node: HsmNodeConfig): NodeSteps {
  return {
    node,
    async inspect() {
      const problems: string[] = [];
      const state = await inspectNode(node, problems);
      return state && problems.length === 0 ? { state, problems: [] } : { problems };
    },
    createToken: () => Promise.resolve().then(() => createNodeToken(node)),
    deleteToken: () => Promise.resolve().then(() => deleteNodeToken(node)),
    createWrappingKey: (label, value, checkValue) => Promise.resolve().then(() => createWrappingKey(node, label, value, checkValue)),
    destroyWrappingKey: (label) => Promise.resolve().then(() => destroyWrappingKey(node, label)),
    close: () => Promise.resolve(),
  };
}
