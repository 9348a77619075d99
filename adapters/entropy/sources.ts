import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { NoiseSource } from '../../domain/entropy/node-entropy';
import type { TokenSessionPool } from '../pkcs11/session-pool';

/** Lets the event loop breathe between chunks, so that a long collection never starves the worker's heartbeats. */
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The HSM's own RNG output (C_GenerateRandom). */
export function hsmRngSource(pool: TokenSessionPool): NoiseSource {
  return {
    name: 'hsm-rng',
    bitsPerSample: 8,
    credit: 'assessed',
    async collect(count) {
      const out = new Uint8Array(count);
      for (let offset = 0; offset < count; offset += 4096) {
        const length = Math.min(4096, count - offset);
        const chunk = await pool.withSession('C_GenerateRandom', ({ pkcs11, session }) => pkcs11.C_GenerateRandom(session, Buffer.alloc(length)));
        out.set(chunk, offset);
      }
      return out;
    },
  };
}

/**
 * Timing jitter of the HSM's own operations: the low byte of the nanoseconds one small PKCS#11 call takes, carrying the
 * noise of the device, its bus and the host.
 */
export function hsmTimingSource(pool: TokenSessionPool): NoiseSource {
  return {
    name: 'hsm-timing',
    bitsPerSample: 8,
    credit: 'assessed',
    async collect(count) {
      const out = new Uint8Array(count);
      const scratch = Buffer.alloc(1);
      for (let offset = 0; offset < count; offset += 4096) {
        const end = Math.min(count, offset + 4096);
        await pool.withSession('timing C_GenerateRandom', ({ pkcs11, session }) => {
          for (let i = offset; i < end; i++) {
            const started = process.hrtime.bigint();
            pkcs11.C_GenerateRandom(session, scratch);
            out[i] = Number((process.hrtime.bigint() - started) & 0xffn);
          }
        });
        await breathe();
      }
      return out;
    },
  };
}

/**
 * CPU execution jitter in the manner of jitterentropy: the low byte of the time a burst of dependent memory accesses
 * over a buffer larger than the L1 cache takes.
 */
export function cpuJitterSource(): NoiseSource {
  const memory = new Uint32Array(1 << 18);
  let index = 1;
  return {
    name: 'cpu-jitter',
    bitsPerSample: 8,
    credit: 'assessed',
    async collect(count) {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const started = process.hrtime.bigint();
        for (let step = 0; step < 32; step++) {
          index = (Math.imul(index, 1_103_515_245) + 12_345 + (memory[index & (memory.length - 1)] as number)) >>> 0;
          memory[(index >>> 7) & (memory.length - 1)] = index;
        }
        out[i] = Number((process.hrtime.bigint() - started) & 0xffn);
        if ((i & 0xfff) === 0xfff) await breathe();
      }
      return out;
    },
  };
}

/** A configured noise device such as /dev/hwrng, read as bytes. */
export function deviceSource(path: string): NoiseSource {
  return {
    name: `device:${path}`,
    bitsPerSample: 8,
    credit: 'assessed',
    async collect(count) {
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
    },
  };
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
