import { constants, generateKeyPair, privateDecrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { InternalError } from '../../domain/errors';

/**
 * A key pair that lives only in this process's memory, for receiving a plaintext data key from an HSM worker through
 * Temporal without it being in clear in the workflow's history: the worker's HSM wraps the data key to `spki` with
 * RSA-OAEP (SHA-1, MGF1-SHA1: the only OAEP SoftHSM 2.6 does; adapters/pkcs11/envelope.ts) and only this process can
 * `open` it. The private key is never exported; a restarted process makes a new pair, so a sealed key in history cannot
 * be opened by anyone later.
 */
export interface TransportKey {
  /** The public key, SPKI DER in base64: what generateDataKey and unwrapDataKey take as `transportKey`. */
  readonly spki: string;
  /** The plaintext of a key the HSM sealed to `spki` (RSA-OAEP with SHA-1), from its base64. */
  open(sealed: string): Buffer;
}

export const TRANSPORT_KEY_BITS = 3072;
const SEALED_BYTES = TRANSPORT_KEY_BITS / 8;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const generateRsa = promisify(generateKeyPair);

class InMemoryTransportKey implements TransportKey {
  readonly #privateKey: KeyObject;

  constructor(
    readonly spki: string,
    privateKey: KeyObject,
  ) {
    this.#privateKey = privateKey;
  }

  open(sealed: string): Buffer {
    if (typeof sealed !== 'string' || !BASE64.test(sealed) || Buffer.byteLength(sealed, 'base64') !== SEALED_BYTES) {
      throw new InternalError('internal_error', `a sealed data key must be base64 of ${SEALED_BYTES} bytes (RSA-OAEP under the ${TRANSPORT_KEY_BITS}-bit transport key)`);
    }
    try {
      return privateDecrypt({ key: this.#privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(sealed, 'base64'));
    } catch (error) {
      // OpenSSL's reason says nothing a caller can use, and nothing about the key; one message for every failure.
      throw new InternalError('internal_error', 'the sealed data key does not open under this transport key: it was sealed to another one or damaged', { cause: error });
    }
  }

  /** Neither JSON nor util.inspect shows the private key (it is in a #private field), but say so plainly. */
  toJSON(): { spki: string } {
    return { spki: this.spki };
  }
}

/** A new RSA-3072 transport key pair; generated off the event loop (RSA-3072 takes up to a second). */
export async function createTransportKey(): Promise<TransportKey> {
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: TRANSPORT_KEY_BITS, publicExponent: 0x10001 });
  return new InMemoryTransportKey(publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), privateKey);
}
