import * as pkcs11js from 'pkcs11js';
import { HsmError, toHsmError } from './errors';

export interface TokenSummary {
  label: string;
  manufacturer: string;
  model: string;
  serialNumber: string;
  initialized: boolean;
}

// PKCS#11 pads fixed-width strings with blanks; some modules use NUL instead.
const trimPadded = (value: string): string => value.replace(/[\s\0]+$/, '');

export function tokenSummary(pkcs11: pkcs11js.PKCS11, slot: pkcs11js.Handle): TokenSummary {
  const info = pkcs11.C_GetTokenInfo(slot);
  return {
    label: trimPadded(info.label),
    manufacturer: trimPadded(info.manufacturerID),
    model: trimPadded(info.model),
    serialNumber: trimPadded(info.serialNumber),
    initialized: (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0,
  };
}

/** The slots whose initialised token carries `label`. Slot numbers move as tokens are added: never store them. */
export function slotsWithLabel(pkcs11: pkcs11js.PKCS11, label: string): pkcs11js.Handle[] {
  return pkcs11.C_GetSlotList(true).filter((slot) => {
    const summary = tokenSummary(pkcs11, slot);
    return summary.initialized && summary.label === label;
  });
}

/** The one slot holding the token `label`; none or several is an error that names the fix. */
export function findTokenSlot(pkcs11: pkcs11js.PKCS11, nodeId: string, label: string): pkcs11js.Handle {
  let slots: pkcs11js.Handle[];
  try {
    slots = slotsWithLabel(pkcs11, label);
  } catch (error) {
    throw toHsmError(nodeId, 'listing the tokens', error);
  }
  if (slots.length === 0) {
    throw new HsmError(nodeId, 'CKR_TOKEN_NOT_PRESENT', `no token labelled '${label}' on this module; create it (for SoftHSM: provision "softhsm" or softhsm2-util --init-token) or fix the node's tokenLabel`, false);
  }
  if (slots.length > 1) {
    throw new HsmError(nodeId, undefined, `${slots.length} tokens are labelled '${label}'; give each token a distinct label`, false);
  }
  return slots[0] as pkcs11js.Handle;
}

/** Runs one C_FindObjects search, always closing it: a session holds one search at a time. */
export function findObjects(pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle, template: pkcs11js.Template): pkcs11js.Handle[] {
  pkcs11.C_FindObjectsInit(session, template);
  try {
    const found: pkcs11js.Handle[] = [];
    for (;;) {
      const batch = pkcs11.C_FindObjects(session, 64);
      if (batch.length === 0) return found;
      found.push(...batch);
    }
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

/** Reads attributes that must be present; a value the token will not give is an error, never a silent default. */
export function readAttributes(pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle, object: pkcs11js.Handle, types: number[]): Map<number, Buffer> {
  const result = pkcs11.C_GetAttributeValue(session, object, types.map((type) => ({ type })));
  const values = new Map<number, Buffer>();
  for (const attribute of result) {
    if (!Buffer.isBuffer(attribute.value)) throw new Error(`attribute 0x${attribute.type.toString(16)} has no readable value`);
    values.set(attribute.type, attribute.value);
  }
  return values;
}
