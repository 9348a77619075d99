import { createHmac } from 'node:crypto';
import { InternalError, UserError } from '../errors';

/** SP 800-90A Rev. 1 section 10.1 table 2, HMAC_DRBG with SHA-256. */
export const HMAC_DRBG_SHA256 = {
  securityStrength: 256,
  outputBytes: 32,
  minEntropyBytes: 32,
  minNonceBytes: 16,
  /** 2^35 bits for entropy input, personalization and additional input. */
  maxInputBytes: 2 ** 32,
  /** 2^19 bits per generate request. */
  maxRequestBytes: 2 ** 16,
  maxReseedInterval: 2 ** 48,
} as const;

/** Generate requests between reseeds unless the caller asks for fewer; far inside the 2^48 the standard allows. */
export const DEFAULT_RESEED_INTERVAL = 2 ** 16;

/**
 * Get_entropy_input of SP 800-90A section 9: fresh entropy input carrying at least `minEntropyBits` of min-entropy
 * (from a conditioned entropy pool), for prediction resistance and scheduled reseeds.
 */
export type EntropySource = (minEntropyBits: number) => Uint8Array;

export interface HmacDrbgInstantiation {
  entropyInput: Uint8Array;
  nonce: Uint8Array;
  personalizationString?: Uint8Array;
  /** Generate requests allowed before a reseed is due (1 to 2^48). */
  reseedInterval?: number;
  /** Whether generate requests may ask for prediction resistance (a reseed from fresh entropy before each). */
  predictionResistance?: boolean;
  /** Where reseeds get entropy; without one, a due reseed stops generation until `reseed` is called. */
  entropySource?: EntropySource;
}

export interface GenerateOptions {
  additionalInput?: Uint8Array;
  predictionResistance?: boolean;
}

const EMPTY = new Uint8Array(0);

/** SP 800-90A HMAC_DRBG (section 10.1.2) with SHA-256. */
export class HmacDrbg {
  private key: Buffer = Buffer.alloc(HMAC_DRBG_SHA256.outputBytes, 0x00);
  private v: Buffer = Buffer.alloc(HMAC_DRBG_SHA256.outputBytes, 0x01);
  private counter = 1;
  readonly reseedInterval: number;
  readonly predictionResistance: boolean;
  private readonly entropySource: EntropySource | undefined;

  private constructor(input: HmacDrbgInstantiation) {
    const { reseedInterval = DEFAULT_RESEED_INTERVAL, predictionResistance = false, entropySource } = input;
    if (!Number.isInteger(reseedInterval) || reseedInterval < 1 || reseedInterval > HMAC_DRBG_SHA256.maxReseedInterval) {
      throw new UserError('drbg_invalid_reseed_interval', `the reseed interval must be an integer from 1 to 2^48, not ${reseedInterval}`);
    }
    if (predictionResistance && !entropySource) {
      throw new UserError('drbg_no_entropy_source', 'prediction resistance needs an entropy source to reseed from');
    }
    this.reseedInterval = reseedInterval;
    this.predictionResistance = predictionResistance;
    this.entropySource = entropySource;
  }

  /** Instantiate (section 10.1.2.3): seed material = entropy input || nonce || personalization string. */
  static instantiate(input: HmacDrbgInstantiation): HmacDrbg {
    const { entropyInput, nonce, personalizationString = EMPTY } = input;
    checkEntropy(entropyInput);
    if (nonce.length < HMAC_DRBG_SHA256.minNonceBytes) {
      throw new UserError('drbg_nonce_too_short', `the nonce must be at least ${HMAC_DRBG_SHA256.minNonceBytes} bytes, not ${nonce.length}`);
    }
    checkLength('personalization string', personalizationString);
    const drbg = new HmacDrbg(input);
    drbg.update(entropyInput, nonce, personalizationString);
    return drbg;
  }

  /** Generate requests since the last (re)seed, plus one: the standard's reseed_counter. */
  get reseedCounter(): number {
    return this.counter;
  }

  /** Reseed (section 10.1.2.4): seed material = entropy input || additional input. */
  reseed(entropyInput: Uint8Array, additionalInput: Uint8Array = EMPTY): void {
    checkEntropy(entropyInput);
    checkLength('additional input', additionalInput);
    this.update(entropyInput, additionalInput);
    this.counter = 1;
  }

  /**
   * Generate (sections 9.3.1 and 10.1.2.5). A request with prediction resistance, or one past the reseed interval,
   * first reseeds from the entropy source with the additional input, which then is not used again.
   */
  generate(byteLength: number, options: GenerateOptions = {}): Uint8Array {
    let additionalInput = options.additionalInput ?? EMPTY;
    if (!Number.isInteger(byteLength) || byteLength < 0 || byteLength > HMAC_DRBG_SHA256.maxRequestBytes) {
      throw new UserError('drbg_request_too_large', `a request returns 0 to ${HMAC_DRBG_SHA256.maxRequestBytes} bytes, not ${byteLength}`);
    }
    checkLength('additional input', additionalInput);
    if (options.predictionResistance && !this.predictionResistance) {
      throw new UserError('drbg_prediction_resistance_unavailable', 'this DRBG was instantiated without prediction resistance');
    }
    if (options.predictionResistance || this.counter > this.reseedInterval) {
      if (!this.entropySource) {
        throw new UserError('drbg_reseed_required', `the DRBG served ${this.reseedInterval} requests since its last seed: reseed it first`);
      }
      this.reseed(this.entropySource(HMAC_DRBG_SHA256.securityStrength), additionalInput);
      additionalInput = EMPTY;
    }
    if (additionalInput.length > 0) this.update(additionalInput);
    const output = Buffer.alloc(byteLength);
    for (let offset = 0; offset < byteLength; offset += HMAC_DRBG_SHA256.outputBytes) {
      this.v = createHmac('sha256', this.key).update(this.v).digest();
      this.v.copy(output, offset, 0, Math.min(HMAC_DRBG_SHA256.outputBytes, byteLength - offset));
    }
    this.update(additionalInput);
    this.counter++;
    return new Uint8Array(output);
  }

  /** HMAC_DRBG_Update (section 10.1.2.2); the provided data is the concatenation of `parts`. */
  private update(...parts: Uint8Array[]): void {
    const provided = parts.some((part) => part.length > 0);
    this.key = hmac(this.key, this.v, [0x00], ...parts);
    this.v = hmac(this.key, this.v);
    if (!provided) return;
    this.key = hmac(this.key, this.v, [0x01], ...parts);
    this.v = hmac(this.key, this.v);
  }
}

function hmac(key: Buffer, ...parts: (Uint8Array | number[])[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part instanceof Uint8Array ? part : Uint8Array.from(part));
  return mac.digest();
}

function checkEntropy(entropyInput: Uint8Array): void {
  if (entropyInput.length < HMAC_DRBG_SHA256.minEntropyBytes) {
    throw new UserError(
      'drbg_entropy_too_short',
      `entropy input must be at least ${HMAC_DRBG_SHA256.minEntropyBytes} bytes for 256-bit security, not ${entropyInput.length}`,
    );
  }
  checkLength('entropy input', entropyInput);
}

function checkLength(what: string, input: Uint8Array): void {
  if (input.length > HMAC_DRBG_SHA256.maxInputBytes) throw new UserError('drbg_input_too_long', `${what} exceeds 2^35 bits`);
}

/** A known-answer test that did not give the published answer: the DRBG must not be used. */
export class DrbgSelfTestError extends InternalError {
  constructor(message: string) {
    super('drbg_self_test_failed', message);
  }
}

interface KnownAnswer {
  name: string;
  entropyInput: string;
  nonce: string;
  personalizationString?: string;
  reseed?: { entropyInput: string; additionalInput: string };
  /** With prediction resistance: the entropy each of the two requests reseeds from. */
  predictionResistanceEntropy?: [string, string];
  additionalInput: [string, string];
  returnedBits: string;
}

/** Published NIST CAVP HMAC_DRBG SHA-256 vectors covering instantiate, reseed, additional input and prediction resistance. */
const KNOWN_ANSWERS: KnownAnswer[] = [
  {
    name: 'CAVS 14.3 no reseed, COUNT 0',
    entropyInput: 'ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488',
    nonce: '659ba96c601dc69fc902940805ec0ca8',
    additionalInput: ['', ''],
    returnedBits:
      'e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc107694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8',
  },
  {
    name: 'CAVS 14.3 with reseed, personalization and additional input',
    entropyInput: '93161b2dc08cb0fd50171141c865a841ca935cfdd2b5907d6ff8ab0348c4ceb0',
    nonce: '5cb9f6e5912b90c3349a50ab881b35a1',
    personalizationString: '0dceb4a36326c4df1685df43fddeecb5d0c76f00eb44826694f27e610290f6e1',
    reseed: {
      entropyInput: 'd8e9be44b5f293482548d4787762ebfb03c73c40e45385e8b98907cd66f493dd',
      additionalInput: '105a8f85d6959f3e043ef508cfea21d52123f03b7aea8034c4eec761eaba1fee',
    },
    additionalInput: [
      'bf781f7e489d9b4b5aa5ee6d1796468af672a8d25f311edf3c4b4dbf433d703f',
      'c81d6bcf1e5bf37e39dda1735c6f193df115b1a854a12e7cafe060afe4589335',
    ],
    returnedBits:
      '4306628124d0100fade7eaaf5edf227d50771f9e5f2e1e983800eef9a39fde0b0c280e63c8728d836b5b93ea794a32c1c04cfc54bd5300e3febb5fe2e1023eded8d7cd180279a598f76823e8d5a7dffcc93a09deec5d1f80838e938fba4de9f47e94b99382ae55f116df9c3b3ddf7e50516e203645852a415796f03a86418107',
  },
  {
    name: 'prediction resistance',
    entropyInput: '6c1f4bffc476e488fb57eb80dc106cf2b417bad22b196baa6346958256db490f',
    nonce: '5f1b92223e3909e43677da2f588a6d19',
    predictionResistanceEntropy: [
      'abaca65695bd5d289880453850fc8289b76f78b43f970ed32f4125a941165515',
      '4a39b666cf861816d7d82ef6e23f70f149d74d9bd499eea19b622e751c43d839',
    ],
    additionalInput: [
      'e6cd940610375e504fa80406120b34d498b022393436e910c0ba2560603fd066',
      'd20082c5bdf6f6711af391e7d01046b9d3610827de63aa2671a5f5ad07b90841',
    ],
    returnedBits: 'd3c36e4ae25ff21a95a157a89f13eb976362a695ea755f0465ed4a7bb20c5cb3',
  },
];

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/**
 * The known-answer self-test a worker runs before its DRBG serves anything (SP 800-90A section 11.3): every vector
 * must reproduce its published output.
 */
export function hmacDrbgSelfTest(): void {
  for (const vector of KNOWN_ANSWERS) {
    const prEntropy = (vector.predictionResistanceEntropy ?? []).map(hex);
    const drbg = HmacDrbg.instantiate({
      entropyInput: hex(vector.entropyInput),
      nonce: hex(vector.nonce),
      personalizationString: hex(vector.personalizationString ?? ''),
      predictionResistance: prEntropy.length > 0,
      entropySource: () => {
        const next = prEntropy.shift();
        if (!next) throw new DrbgSelfTestError(`self-test '${vector.name}' asked for more entropy than it supplies`);
        return next;
      },
    });
    if (vector.reseed) drbg.reseed(hex(vector.reseed.entropyInput), hex(vector.reseed.additionalInput));
    const length = vector.returnedBits.length / 2;
    const predictionResistance = vector.predictionResistanceEntropy !== undefined;
    drbg.generate(length, { additionalInput: hex(vector.additionalInput[0]), predictionResistance });
    const output = drbg.generate(length, { additionalInput: hex(vector.additionalInput[1]), predictionResistance });
    if (Buffer.from(output).toString('hex') !== vector.returnedBits) {
      throw new DrbgSelfTestError(`HMAC_DRBG self-test '${vector.name}' did not reproduce its published output`);
    }
  }
}
