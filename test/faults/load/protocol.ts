import { createHash } from 'node:crypto';
import type { TokenAccess } from '../../support/pkcs11-listing';

/**
 * The messages between the JWT load scenario and its processes: one signing application and several verifiers. They
 * travel over Node's IPC channel, so the PINs given to the signer never reach a command line or an environment.
 */

export interface SignerInit {
  kind: 'init';
  apiUrl: string;
  /** A read-only (auditor) API token: the signer reads GET /keymap as an application would. */
  token: string;
  nodes: Array<{ id: string } & TokenAccess>;
  /** How often the application re-reads the key map. */
  keymapRefreshMs: number;
  /** Tokens per second across all keys. */
  ratePerSecond: number;
  /** The share of keys (every n-th by name) whose application keeps signing with the version it read after it starts retiring. */
  stickyShare: number;
  /** How long such an application keeps the retiring version (half to all of it; it switches once the version is archived). */
  stickyMs: number;
}

/** One JWT as the signer made it: which version signed it, on which node, and what the key map said of it then. */
export interface SignedToken {
  kind: 'signed';
  jwt: string;
  key: string;
  version: number;
  kid: string;
  node: string;
  /** The state the signer's key map gave the version when it signed (active, or retiring for a sticky application). */
  stateWhenSigned: string;
  signedAt: number;
}

/** A signature that PKCS#11 refused: a version the map still showed as usable, or one whose archive came first. */
export interface SignRefused {
  kind: 'refused';
  key: string;
  version: number;
  node: string;
  stateWhenSigned: string;
  ckr: string;
  at: number;
}

export interface SignerStats {
  kind: 'stats';
  keymapReads: number;
  keymapFailures: number;
}

export type SignerMessage = SignedToken | SignRefused | SignerStats | { kind: 'ready' } | { kind: 'error'; message: string };
export type SignerCommand = SignerInit | { kind: 'stop' };

export interface VerifierInit {
  kind: 'init';
  jwksUrl: string;
}
export interface VerifyRequest {
  kind: 'verify';
  id: number;
  jwt: string;
}
export type VerifierCommand = VerifierInit | VerifyRequest | { kind: 'stop' };

export interface VerifyResult {
  kind: 'verified';
  id: number;
  ok: boolean;
  /** jose's error code when it refused (ERR_JWKS_NO_MATCHING_KEY, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, …). */
  code: string | null;
  kid: string | null;
  at: number;
}
export type VerifierMessage = VerifyResult | { kind: 'ready' } | { kind: 'error'; message: string };

export const b64url = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

/** The JWS signing input of a compact JWT: what an ES256 or RS256 signature covers. */
export function signingInput(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
}

export const sha256 = (data: string | Buffer): Buffer => createHash('sha256').update(data).digest();
