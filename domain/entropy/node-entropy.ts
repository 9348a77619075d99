import { createHash } from 'node:crypto';
import type { EntropyConfig } from '../config';
import { HmacDrbg } from '../drbg/hmac-drbg';
import { ExternalError } from '../errors';
import { ConditionedEntropyPool } from '../sp800-90b/conditioning';
import { SourceHealthTests } from '../sp800-90b/health-tests';
import type { BatterySummary, EntropyProvenance, PoolSnapshot, SourceStatus } from './provenance';

export type { BatterySummary, EntropyProvenance, PoolSnapshot, SourceStatus } from './provenance';
import { overallMinEntropy, type EstimatorRow } from '../sp800-90b/rows';
import type { TestResult } from '../sp800-22';

/** A noise source: raw samples of `bitsPerSample` bits, one sample per byte. Collecting is the adapter's I/O. */
export interface NoiseSource {
  name: string;
  bitsPerSample: number;
  /** `assessed`: credited with its SP 800-90B estimate; `none`: mixed in, credited with nothing. */
  credit: 'assessed' | 'none';
  collect(count: number): Promise<Uint8Array>;
}

/** SP 800-90B section 6.3 on `samples`: the estimator rows. Runs off the caller's event loop; `signal` ends it. */
export type Assess = (input: { samples: Uint8Array; bitsPerSample: number }, signal?: AbortSignal) => Promise<EstimatorRow[]>;

/**
 * The SP 800-22 battery on the first `bits` bits of `bytes`: its results. Runs off the caller's event loop: a million
 * bits hold a core for seconds, and in `keyrotor start` that loop also carries every workflow task of the control worker.
 */
export type TestBattery = (input: { bytes: Uint8Array; bits: number }, signal?: AbortSignal) => Promise<TestResult[]>;

/** What the pool needs from outside: time, the DRBG's nonce (randomness is passed in), the assessment and the battery. */
export interface NodeEntropyDeps {
  now: () => Date;
  nonce: () => Uint8Array;
  assess: Assess;
  battery: TestBattery;
}


export interface HarvestReport {
  snapshot: PoolSnapshot;
  sources: SourceStatus[];
  assessedNow: string[];
}

/** The seed that goes to C_SeedRandom before a key generation, and the snapshot it came from. */
export interface KeyGenerationSeed {
  seed: Buffer | null;
  provenance: EntropyProvenance;
}

interface SourceState {
  source: NoiseSource;
  status: SourceStatus;
  health: SourceHealthTests | null;
}

const SECURITY_STRENGTH_BITS = 256;
const MAX_REQUEST_BYTES = 65_536;
/** A near-zero estimate would give cut-offs no source could meet; such a source simply earns no credit. */
const LEAST_CREDITABLE_MIN_ENTROPY = 0.01;

/**
 * One node's entropy: its noise sources, their continuous health tests and SP 800-90B assessments, the quarantine of a
 * source that fails them, the conditioned pool and the HMAC_DRBG it seeds. Lives in the node's HSM worker; only
 * snapshots leave it. The sources, the assessment, time and randomness are injected: this class does no I/O itself.
 */
export class NodeEntropy {
  private readonly sources: SourceState[];
  private readonly pool = new ConditionedEntropyPool();
  private drbg: HmacDrbg | null = null;
  private reseeds = 0;
  private lastReseedAt: string | null = null;
  private battery: BatterySummary | null = null;
  private additionalInput: Buffer = Buffer.alloc(0);

  constructor(
    readonly nodeId: string,
    sources: NoiseSource[],
    private readonly config: EntropyConfig,
    private readonly deps: NodeEntropyDeps,
  ) {
    this.sources = sources.map((source) => ({
      source,
      health: null,
      status: {
        name: source.name,
        bitsPerSample: source.bitsPerSample,
        credit: source.credit,
        state: source.credit === 'none' ? 'healthy' : 'unassessed',
        assessment: null,
        lastHealth: null,
        creditedBitsLastHarvest: 0,
        error: null,
      },
    }));
  }

  private async assess(state: SourceState, signal: AbortSignal | undefined): Promise<void> {
    const samples = await state.source.collect(this.config.assessmentSamples);
    const estimators = await this.deps.assess({ samples, bitsPerSample: state.source.bitsPerSample }, signal);
    const minEntropy = overallMinEntropy(estimators);
    if (minEntropy === null) throw new Error('the assessment gave no overall estimate');
    state.status.assessment = { minEntropy, samples: samples.length, at: this.deps.now().toISOString(), estimators };
    state.health = minEntropy > LEAST_CREDITABLE_MIN_ENTROPY ? new SourceHealthTests({ minEntropy, bitsPerSample: state.source.bitsPerSample }) : null;
    state.status.state = state.health ? 'healthy' : 'failing';
  }

  private assessmentDue(state: SourceState): boolean {
    if (state.source.credit === 'none') return false;
    const assessment = state.status.assessment;
    return !assessment || this.deps.now().getTime() - Date.parse(assessment.at) > this.config.assessmentIntervalHours * 3_600_000;
  }

  /** The quarantine state machine: a failed health test quarantines the source; a whole passing batch brings it back. */
  private observe(state: SourceState, samples: Uint8Array): void {
    const { status, source } = state;
    if (source.credit === 'none') {
      // Mixed into the DRBG as additional input at the next reseed, credited with nothing.
      this.additionalInput = createHash('sha256').update(this.additionalInput).update(samples).digest();
      return;
    }
    if (!state.health || !status.assessment) return;
    // A quarantined source starts its tests afresh: it is back once a whole batch passes.
    if (status.state === 'quarantined') state.health = new SourceHealthTests({ minEntropy: status.assessment.minEntropy, bitsPerSample: source.bitsPerSample });
    const report = state.health.observe(samples);
    status.lastHealth = { verdict: report.verdict, alerts: report.alerts, failedAt: report.failedAt ?? null, samples: samples.length };
    if (report.verdict === 'failure') {
      status.state = 'quarantined';
      return;
    }
    status.state = 'healthy';
    const before = this.pool.creditedBits;
    this.pool.absorb({ samples, bitsPerSample: source.bitsPerSample, minEntropyPerSample: status.assessment.minEntropy });
    status.creditedBitsLastHarvest = Math.round(this.pool.creditedBits - before);
  }

  /**
   * One harvest: collect, health-test, assess when due, condition, (re)seed the DRBG, run the battery on its output.
   * `signal` (the activity's cancellation, which a stopping worker sends) ends a running assessment and the harvest, so
   * that a worker stops within its grace time instead of after minutes of assessment.
   */
  async harvest(signal?: AbortSignal): Promise<HarvestReport> {
    const assessedNow: string[] = [];
    for (const state of this.sources) {
      signal?.throwIfAborted();
      state.status.creditedBitsLastHarvest = 0;
      state.status.error = null;
      try {
        if (this.assessmentDue(state)) {
          await this.assess(state, signal);
          assessedNow.push(state.source.name);
        }
        this.observe(state, await state.source.collect(this.config.samplesPerSource));
      } catch (error) {
        state.status.error = error instanceof Error ? error.message : String(error);
      }
    }
    // A cancelled harvest reports nothing: the sources it cut short would look failed.
    signal?.throwIfAborted();
    this.reseedWhenPossible();
    await this.testOutput(signal);
    signal?.throwIfAborted();
    return { snapshot: this.snapshot(), sources: this.sources.map((state) => ({ ...state.status })), assessedNow };
  }

  private reseedWhenPossible(): void {
    if (this.pool.creditedBits < SECURITY_STRENGTH_BITS) return;
    const entropyInput = this.pool.drain(SECURITY_STRENGTH_BITS);
    if (this.drbg) {
      this.drbg.reseed(entropyInput, this.additionalInput);
    } else {
      this.drbg = HmacDrbg.instantiate({ entropyInput, nonce: this.deps.nonce(), personalizationString: Buffer.concat([Buffer.from(`keyrotor ${this.nodeId}`), this.additionalInput]) });
    }
    this.additionalInput = Buffer.alloc(0);
    this.reseeds += 1;
    this.lastReseedAt = this.deps.now().toISOString();
  }

  private async testOutput(signal: AbortSignal | undefined): Promise<void> {
    if (!this.drbg) return;
    // SP 800-90A caps one HMAC_DRBG request at 2^19 bits: a million-bit sample takes several.
    const bytes = Math.ceil(this.config.batteryBits / 8);
    const output = new Uint8Array(bytes);
    for (let offset = 0; offset < bytes; offset += MAX_REQUEST_BYTES) {
      output.set(this.drbg.generate(Math.min(MAX_REQUEST_BYTES, bytes - offset)), offset);
    }
    const results = await this.deps.battery({ bytes: output, bits: this.config.batteryBits }, signal);
    const applicable = results.filter((result) => result.pValue !== null);
    const failed = applicable.filter((result) => (result.pValue as number) < 0.01).map((result) => `${result.test}${result.subtest === '-' ? '' : `/${result.subtest}`}`);
    this.battery = { at: this.deps.now().toISOString(), bits: this.config.batteryBits, passed: applicable.length - failed.length, failed, notApplicable: results.length - applicable.length };
  }

  snapshot(): PoolSnapshot {
    const creditedBits = Math.floor(this.pool.creditedBits);
    return {
      nodeId: this.nodeId,
      at: this.deps.now().toISOString(),
      creditedBits,
      minimumCreditedBits: this.config.minimumCreditedBits,
      healthy: this.drbg !== null && creditedBits >= this.config.minimumCreditedBits,
      drbg: { instantiated: this.drbg !== null, reseeds: this.reseeds, lastReseedAt: this.lastReseedAt },
      sources: this.sources.map(({ status }) => ({ name: status.name, state: status.state, minEntropy: status.assessment?.minEntropy ?? null, assessedAt: status.assessment?.at ?? null })),
      battery: this.battery,
    };
  }

  /**
   * Seed material for the HSM before a key generation. A healthy pool gives DRBG output with prediction resistance
   * (a reseed from fresh pool entropy first); otherwise the key's policy decides: `hold` refuses, `hsm-only` lets the
   * HSM's own RNG generate alone and says so in the provenance.
   */
  seedForKeyGeneration(policy: 'hold' | 'hsm-only'): KeyGenerationSeed {
    const snapshot = this.snapshot();
    if (!snapshot.healthy || !this.drbg) {
      if (policy === 'hold') {
        throw new EntropyHoldError(this.nodeId, snapshot);
      }
      return { seed: null, provenance: { ...snapshot, mode: 'hsm-only' } };
    }
    this.reseedWhenPossible();
    const seed = Buffer.from(this.drbg.generate(48));
    return { seed, provenance: { ...this.snapshot(), mode: 'pool' } };
  }
}

/** Retryable on purpose: Temporal tries the generation again until the pool is healthy. */
export class EntropyHoldError extends ExternalError {
  constructor(
    readonly nodeId: string,
    readonly snapshot: PoolSnapshot,
  ) {
    super('entropy_hold', `node ${nodeId}: the entropy pool holds ${snapshot.creditedBits} credited bits (minimum ${snapshot.minimumCreditedBits})${snapshot.drbg.instantiated ? '' : ' and its DRBG is not seeded yet'}; key generation is held by the key's entropy policy until the pool is healthy`);
  }
}
