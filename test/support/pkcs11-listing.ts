import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a token holds, read by OpenSC's pkcs11-tool in a child process: an independent client, so tests see the
 * token's state without trusting keyrotor's own PKCS#11 code. The PIN goes on the command line (visible in `ps`):
 * acceptable for throwaway test tokens only.
 */

export interface TokenObject {
  class: 'privkey' | 'pubkey' | 'secrkey' | 'data';
  label: string | null;
  /** CKA_ID in lowercase hex; null when the object has none. */
  idHex: string | null;
  /** The usages pkcs11-tool prints ('sign', 'verify', 'wrap', …); empty for none. */
  usage: string[];
  /** CKA_EC_PARAMS and CKA_EC_POINT in hex, which pkcs11-tool prints for EC public keys only. */
  ecParamsHex?: string;
  ecPointHex?: string;
}

export interface TokenAccess {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  /** The module's environment (SOFTHSM2_CONF of a node with a token folder of its own); this process's otherwise. */
  env?: Record<string, string>;
}

const HEADERS: Array<[RegExp, TokenObject['class']]> = [
  [/^Private Key Object\b/, 'privkey'],
  [/^Public Key Object\b/, 'pubkey'],
  [/^Secret Key Object\b/, 'secrkey'],
  [/^Data object\b/, 'data'],
];

function runPkcs11Tool(modulePath: string, env: Record<string, string> | undefined, args: string[], what: string): string {
  const result = spawnSync('pkcs11-tool', ['--module', modulePath, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw new Error(`pkcs11-tool could not run (${result.error.message}); install OpenSC (apt-get install opensc)`);
  if (result.status !== 0) throw new Error(`pkcs11-tool ${what} exited with ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}

/**
 * SoftHSM rewrites a token's token.object (its flags) as its worker logs in; a pkcs11-tool that starts during the rewrite reads
 * no label and finds "No slot with token named …". A token that is really gone stays gone: read again, 250 ms apart and
 * for up to 5 s, only on that message.
 */
const TOKEN_REREAD_ATTEMPTS = 20;
const TOKEN_REREAD_PAUSE_MS = 250;

function pkcs11Tool(access: TokenAccess, args: string[]): string {
  const what = `${args[0] ?? ''} on token '${access.tokenLabel}'`;
  const toolArgs = ['--token-label', access.tokenLabel, '--login', '--pin', access.pin, ...args];
  for (let attempt = 1; ; attempt += 1) {
    try {
      return runPkcs11Tool(access.modulePath, access.env, toolArgs, what);
    } catch (error) {
      const tokenUnread = error instanceof Error && error.message.includes('No slot with token named');
      if (!tokenUnread || attempt >= TOKEN_REREAD_ATTEMPTS) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, TOKEN_REREAD_PAUSE_MS);
    }
  }
}

/** The labels of the initialised tokens the module shows with this environment (`pkcs11-tool --list-token-slots`). */
export function listTokenLabels(modulePath: string, env?: Record<string, string>): string[] {
  const output = runPkcs11Tool(modulePath, env, ['--list-token-slots'], '--list-token-slots');
  return [...output.matchAll(/^\s+token label\s*:\s*(.*?)\s*$/gm)].map((match) => match[1] as string);
}

/** Parses `pkcs11-tool --list-objects` output; a block it does not recognise is an error, not a silent skip. */
function parseObjectListing(output: string): TokenObject[] {
  const objects: TokenObject[] = [];
  let current: TokenObject | undefined;
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const header = HEADERS.find(([pattern]) => pattern.test(line));
      if (!header) throw new Error(`pkcs11-tool listed an object this parser does not know: '${line}'`);
      current = { class: header[1], label: null, idHex: null, usage: [] };
      objects.push(current);
      continue;
    }
    if (!current) throw new Error(`pkcs11-tool printed '${line.trim()}' before any object`);
    const field = /^\s+([A-Za-z_ ]+):\s*(.*)$/.exec(line);
    if (!field) continue;
    const [, name, value = ''] = field;
    if (name === 'label') {
      // Data objects print their label quoted, keys print it bare.
      current.label = current.class === 'data' ? value.replace(/^'(.*)'$/, '$1') : value;
    } else if (name === 'ID') {
      current.idHex = value.toLowerCase();
    } else if (name === 'Usage') {
      current.usage = value === 'none' ? [] : value.split(', ');
    } else if (name === 'EC_PARAMS') {
      current.ecParamsHex = value.toLowerCase();
    } else if (name === 'EC_POINT') {
      current.ecPointHex = value.toLowerCase();
    }
  }
  return objects;
}

/** Every object on the token, as `pkcs11-tool --list-objects` shows it after logging in. */
export function listTokenObjects(access: TokenAccess): TokenObject[] {
  return parseObjectListing(pkcs11Tool(access, ['--list-objects']));
}

/**
 * The public key with this CKA_ID as pkcs11-tool exports it (SPKI DER, built by OpenSC from the token's attributes).
 * OpenSC 0.23 cannot export P-384 keys, its own included ("cannot create EVP_PKEY"): read their EC_POINT from the listing.
 */
export function readPublicKeyDer(access: TokenAccess, idHex: string): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-pubkey-'));
  try {
    const file = join(folder, 'public.der');
    pkcs11Tool(access, ['--read-object', '--type', 'pubkey', '--id', idHex, '--output-file', file]);
    return readFileSync(file);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** CKA_VALUE of the data object with this label, as pkcs11-tool reads it. */
export function readDataObject(access: TokenAccess, label: string): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-data-'));
  try {
    const file = join(folder, 'value');
    pkcs11Tool(access, ['--read-object', '--type', 'data', '--label', label, '--output-file', file]);
    return readFileSync(file);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Deletes an object by hand, as an operator (or an intruder) with the PIN would. */
export function deleteObject(access: TokenAccess, type: 'privkey' | 'pubkey' | 'secrkey' | 'data', by: { idHex: string } | { label: string }): void {
  pkcs11Tool(access, ['--delete-object', '--type', type, ...('idHex' in by ? ['--id', by.idHex] : ['--label', by.label])]);
}

/** Writes a private data object by hand. */
export function writeDataObject(access: TokenAccess, label: string, value: Buffer, application: string): void {
  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-data-'));
  try {
    const file = join(folder, 'value');
    writeFileSync(file, value);
    pkcs11Tool(access, ['--write-object', file, '--type', 'data', '--label', label, '--application-label', application, '--private']);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Generates an EC P-256 key pair by hand, outside keyrotor. */
export function generateKeyPairByHand(access: TokenAccess, label: string, idHex: string): void {
  pkcs11Tool(access, ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', label, '--id', idHex]);
}

/**
 * Decrypts `ciphertext` with the private key of this CKA_ID by RSA-OAEP with SHA-1 and MGF1-SHA1 (JOSE `RSA-OAEP`, the
 * only OAEP SoftHSM 2.6 does), as an application holding the PIN would: the plaintext, or pkcs11-tool's error.
 */
export function decryptOaepByHand(access: TokenAccess, idHex: string, ciphertext: Buffer): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'keyrotor-oaep-'));
  try {
    const input = join(folder, 'ciphertext');
    const output = join(folder, 'plaintext');
    writeFileSync(input, ciphertext);
    pkcs11Tool(access, ['--decrypt', '--mechanism', 'RSA-PKCS-OAEP', '--hash-algorithm', 'SHA-1', '--mgf', 'MGF1-SHA1', '--id', idHex, '--input-file', input, '--output-file', output]);
    return readFileSync(output);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
