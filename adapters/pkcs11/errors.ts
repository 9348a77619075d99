import * as pkcs11js from 'pkcs11js';
import { ExternalError } from '../../domain/errors';

const CKR_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js)) {
  if (name.startsWith('CKR_') && typeof value === 'number' && !CKR_NAMES.has(value)) CKR_NAMES.set(value, name);
}
// pkcs11js reports 0x1B as vendor-defined; PKCS#11 2.40 calls it CKR_ACTION_PROHIBITED.
CKR_NAMES.set(0x1b, 'CKR_ACTION_PROHIBITED');

/** Return values that describe a state which can pass (a busy or restarted device), so a retry can help. */
const RETRYABLE = new Set([
  'CKR_DEVICE_ERROR', 'CKR_DEVICE_MEMORY', 'CKR_DEVICE_REMOVED', 'CKR_FUNCTION_FAILED', 'CKR_GENERAL_ERROR',
  'CKR_HOST_MEMORY', 'CKR_SESSION_CLOSED', 'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_COUNT', 'CKR_TOKEN_NOT_PRESENT',
  'CKR_OPERATION_ACTIVE', 'CKR_CRYPTOKI_NOT_INITIALIZED',
]);

export function ckrName(code: number): string {
  return CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, '0')}`;
}

/** The CKR name of an error thrown by pkcs11js, whichever of its two error shapes it used. */
export function ckrOf(error: unknown): string | undefined {
  if (error instanceof pkcs11js.Pkcs11Error) return ckrName(error.code);
  // C_CreateObject, C_SetAttributeValue and C_CopyObject throw a plain Error whose message is `CKR_NAME:NN`.
  const match = error instanceof Error ? /\b(CKR_[A-Z_]+):(\d+)/.exec(error.message) : null;
  return match ? (match[1] === 'CKR_VENDOR_DEFINED' && Number(match[2]) === 0x1b ? 'CKR_ACTION_PROHIBITED' : match[1]) : undefined;
}

export class HsmError extends ExternalError {
  constructor(
    readonly nodeId: string,
    readonly ckr: string | undefined,
    message: string,
    retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(ckr ? `hsm_${ckr.slice(4).toLowerCase()}` : 'hsm_error', `node ${nodeId}: ${message}`, { ...options, retryable });
  }
}

/** Translates whatever a PKCS#11 call threw into an HsmError that says what failed and whether to retry. */
export function toHsmError(nodeId: string, operation: string, error: unknown): HsmError {
  if (error instanceof HsmError) return error;
  const ckr = ckrOf(error);
  const detail = ckr ?? (error instanceof Error ? error.message : String(error));
  return new HsmError(nodeId, ckr, `${operation} failed (${detail})`, ckr === undefined || RETRYABLE.has(ckr), { cause: error });
}
