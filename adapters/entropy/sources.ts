import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { NoiseSource } from '../../domain/entropy/node-entropy';
import type { TokenSessionPool } from '../pkcs11/session-pool';

/** Samples are collected this many at a time, the event loop breathing between, so that a long collection never starves the worker's heartbeats. */
const CHUNK = 4096;

/** `count` samples filled chunk by chunk by `fill(out, offset, end)`. */
async function inChunks(count: number, fill: (out: Uint8Array, offset: number, end: number) => unknown): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  for (let offset = 0; offset < count; offset += CHUNK) {
    await fill(out, offset, Math.min(count, offset + CHUNK));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

/** A source of byte samples, credited with its SP 800-90B estimate. */
const assessedBytes = (name: string, collect: (count: number) => Promise<Uint8Array>): NoiseSource => ({ name, bitsPerSample: 8, credit: 'assessed', collect });

/** The HSM's own RNG output (C_GenerateRandom). */
export function hsmRngSource(pool: TokenSessionPool): NoiseSource {
  return assessedBytes('hsm-rng', (count) =>
    inChunks(count, async (out, offset, end) => {
      out.set(await pool.withSession('C_GenerateRandom', ({ pkcs11, session }) => pkcs11.C_GenerateRandom(session, Buffer.alloc(end - offset))), offset);
    }));
}

/**
 * Timing jitter of the HSM's own operations: the low byte of the nanoseconds one small PKCS#11 call takes, carrying the
 * noise of the device, its bus and the host.
 */
export function hsmTimingSource(pool: TokenSessionPool): NoiseSource {
  const scratch = Buffer.alloc(1);
  return assessedBytes('hsm-timing', (count) =>
    inChunks(count, (out, offset, end) =>
      pool.withSession('timing C_GenerateRandom', ({ pkcs11, session }) => {
        for (let i = offset; i < end; i++) {
          const started = process.hrtime.bigint();
          pkcs11.C_GenerateRandom(session, scratch);
          out[i] = Number((process.hrtime.bigint() - started) & 0xffn);
        }
      })));
}

/**
 * CPU execution jitter in the manner of jitterentropy: the low byte of the time a burst of dependent memory accesses
 * over a buffer larger than the L1 cache takes.
 */
export function cpuJitterSource(): NoiseSource {
  const memory = new Uint32Array(1 << 18);
  let index = 1;
  return assessedBytes('cpu-jitter', (count) =>
    inChunks(count, (out, offset, end) => {
      for (let i = offset; i < end; i++) {
        const started = process.hrtime.bigint();
        for (let step = 0; step < 32; step++) {
          index = (Math.imul(index, 1_103_515_245) + 12_345 + (memory[index & (memory.length - 1)] as number)) >>> 0;
          memory[(index >>> 7) & (memory.length - 1)] = index;
        }
        out[i] = Number((process.hrtime.bigint() - started) & 0xffn);
      }
    }));
}

/** A configured noise device such as /dev/hwrng, read as bytes. */
export function deviceSource(path: string): NoiseSource {
  return assessedBytes(`device:${path}`, async (count) => {
    const handle = await open(path, 'r');
    try {
      const out = Buffer.alloc(count);
      let filled = 0;
      while (filled < count) {
        const { bytesRead } = await handle.read(out, filled, count - filled, null);
        if (bytesRead === 0) throw new Error(`${path} ended after ${filled} of ${count} bytes`);
        filled += bytesRead;
      }
      return new Uint8Array(out.buffer, out.byteOffset, count);
    } finally {
      await handle.close();
    }
  });
}

/** The operating system's RNG: mixed in, never credited (its entropy is not measured here). */
export function osRngSource(): NoiseSource {
  return {
    name: 'os-rng',
    bitsPerSample: 8,
    credit: 'none',
    collect: (count) => Promise.resolve(new Uint8Array(randomBytes(count))),
  };
}
