import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EntropyConfig } from '../../domain/config';
import { ExternalError } from '../../domain/errors';
import { HmacDrbg } from '../../domain/drbg/hmac-drbg';
import { ConditionedEntropyPool } from '../../domain/sp800-90b/conditioning';
import { SourceHealthTests, type HealthVerdict } from '../../domain/sp800-90b/health-tests';
import { bitsFromBytes, runBattery } from '../../domain/sp800-22';
import { projectRoot } from '../../scripts/tool-paths';
import type { NoiseSource } from './sources';

const run = promisify(execFile);

export interface SourceStatus {
  name: string;
  bitsPerSample: number;
  credit: 'assessed' | 'none';
  state: 'unassessed' | 'healthy' | 'quarantined' | 'failing';
  assessment: { minEntropy: number; samples: number; at: string; estimators: Array<{ estimator: string; track: string; minEntropy: number }> } | null;
  lastHealth: { verdict: HealthVerdict; alerts: number; failedAt: number | null; samples: number } | null;
  creditedBitsLastHarvest: number;
  error: string | null;
}

export interface BatterySummary {
  at: string;
  bits: number;
  passed: number;
  failed: string[];
  notApplicable: number;
}

/** What a node's pool looks like, without anything secret: the "entropy provenance" recorded with each key version. */
export interface PoolSnapshot {
  nodeId: string;
  at: string;
  /** Credited bits waiting in the conditioned pool for the next reseed. */
  creditedBits: number;
  minimumCreditedBits: number;
  healthy: boolean;
  drbg: { instantiated: boolean; reseeds: number; lastReseedAt: string | null };
  sources: Array<Pick<SourceStatus, 'name' | 'state'> & { minEntropy: number | null; assessedAt: string | null }>;
  battery: BatterySummary | null;
}

export interface HarvestReport {
  snapshot: PoolSnapshot;
  sources: SourceStatus[];
  assessedNow: string[];
}

/** The seed that goes to C_SeedRandom before a key generation, and the snapshot it came from. */
export interface KeyGenerationSeed {
  seed: Buffer | null;
  provenance: PoolSnapshot & { mode: 'pool' | 'hsm-only' };
}

interface SourceState {
  source: NoiseSource;
  status: SourceStatus;
  health: SourceHealthTests | null;
}

const SECURITY_STRENGTH_BITS = 256;
const MAX_REQUEST_BYTES = 65_536;

/**
 * One node's entropy: its noise sources, their continuous health tests and SP 800-90B assessments, the conditioned
 * pool and the HMAC_DRBG it seeds. Lives in the node's HSM worker; only snapshots leave it.
 */
export class NodeEntropyHarvester {
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
    private readonly now: () => Date = () => new Date(),
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

  /** SP 800-90B section 6.3 on fresh samples, in a child process (`keyrotor ea`) so the worker's event loop keeps running. */
  private async assess(state: SourceState, signal: AbortSignal | undefined): Promise<void> {
    const samples = await state.source.collect(this.config.assessmentSamples);
    const folder = await mkdtemp(join(tmpdir(), 'keyrotor-ea-'));
    try {
      const file = join(folder, 'samples.bin');
      await writeFile(file, samples, { mode: 0o600 });
      const { stdout } = await run(process.execPath, [join(projectRoot, 'bin', 'keyrotor.js'), 'ea', file, '--bits-per-sample', String(state.source.bitsPerSample), '--json'], {
        maxBuffer: 1 << 20,
        timeout: 10 * 60_000,
        ...(signal ? { signal } : {}),
      });
      const estimators = JSON.parse(stdout) as Array<{ estimator: string; track: string; minEntropy: number }>;
      const overall = estimators.find((row) => row.estimator === 'Overall' && row.track === 'assessed')
        ?? estimators.find((row) => row.estimator === 'Overall' && row.track === 'original');
      if (!overall) throw new Error('the assessment gave no overall estimate');
      state.status.assessment = { minEntropy: overall.minEntropy, samples: samples.length, at: this.now().toISOString(), estimators };
      // A near-zero estimate would give cut-offs no source could meet; such a source simply earns no credit.
      state.health = overall.minEntropy > 0.01 ? new SourceHealthTests({ minEntropy: overall.minEntropy, bitsPerSample: state.source.bitsPerSample }) : null;
      state.status.state = state.health ? 'healthy' : 'failing';
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  private assessmentDue(state: SourceState): boolean {
    if (state.source.credit === 'none') return false;
    const assessment = state.status.assessment;
    return !assessment || this.now().getTime() - Date.parse(assessment.at) > this.config.assessmentIntervalHours * 3_600_000;
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
      const { status, source } = state;
      status.creditedBitsLastHarvest = 0;
      status.error = null;
      try {
        if (this.assessmentDue(state)) {
          await this.assess(state, signal);
          assessedNow.push(source.name);
        }
        const samples = await source.collect(this.config.samplesPerSource);
        if (source.credit === 'none') {
          // Mixed into the DRBG as additional input at the next reseed, credited with nothing.
          this.additionalInput = createHash('sha256').update(this.additionalInput).update(samples).digest();
          continue;
        }
        if (!state.health || !status.assessment) continue;
        // A quarantined source starts its tests afresh: it is back once a whole batch passes.
        if (status.state === 'quarantined') state.health = new SourceHealthTests({ minEntropy: status.assessment.minEntropy, bitsPerSample: source.bitsPerSample });
        const report = state.health.observe(samples);
        status.lastHealth = { verdict: report.verdict, alerts: report.alerts, failedAt: report.failedAt ?? null, samples: samples.length };
        if (report.verdict === 'failure') {
          status.state = 'quarantined';
          continue;
        }
        status.state = 'healthy';
        const before = this.pool.creditedBits;
        this.pool.absorb({ samples, bitsPerSample: source.bitsPerSample, minEntropyPerSample: status.assessment.minEntropy });
        status.creditedBitsLastHarvest = Math.round(this.pool.creditedBits - before);
      } catch (error) {
        status.error = error instanceof Error ? error.message : String(error);
      }
    }
    // A cancelled harvest reports nothing: the sources it cut short would look failed.
    signal?.throwIfAborted();
    this.reseedWhenPossible();
    this.testOutput();
    return { snapshot: this.snapshot(), sources: this.sources.map((state) => ({ ...state.status })), assessedNow };
  }

  private reseedWhenPossible(): void {
    if (this.pool.creditedBits < SECURITY_STRENGTH_BITS) return;
    const entropyInput = this.pool.drain(SECURITY_STRENGTH_BITS);
    if (this.drbg) {
      this.drbg.reseed(entropyInput, this.additionalInput);
    } else {
      this.drbg = HmacDrbg.instantiate({ entropyInput, nonce: randomBytes(16), personalizationString: Buffer.concat([Buffer.from(`keyrotor ${this.nodeId}`), this.additionalInput]) });
    }
    this.additionalInput = Buffer.alloc(0);
    this.reseeds += 1;
    this.lastReseedAt = this.now().toISOString();
  }

  private testOutput(): void {
    if (!this.drbg) return;
    // SP 800-90A caps one HMAC_DRBG request at 2^19 bits: a million-bit sample takes several.
    const bytes = Math.ceil(this.config.batteryBits / 8);
    const output = new Uint8Array(bytes);
    for (let offset = 0; offset < bytes; offset += MAX_REQUEST_BYTES) {
      output.set(this.drbg.generate(Math.min(MAX_REQUEST_BYTES, bytes - offset)), offset);
    }
    const results = runBattery(bitsFromBytes(output).subarray(0, this.config.batteryBits));
    const applicable = results.filter((result) => result.pValue !== null);
    const failed = applicable.filter((result) => (result.pValue as number) < 0.01).map((result) => `${result.test}${result.subtest === '-' ? '' : `/${result.subtest}`}`);
    this.battery = { at: this.now().toISOString(), bits: this.config.batteryBits, passed: applicable.length - failed.length, failed, notApplicable: results.length - applicable.length };
  }

  snapshot(): PoolSnapshot {
    const creditedBits = Math.floor(this.pool.creditedBits);
    return {
      nodeId: this.nodeId,
      at: this.now().toISOString(),
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
