import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports handed to servers that a test starts (API, PostgreSQL, Temporal, Web UI, metrics) come from below the kernel's
 * ephemeral range. A port from `listen(0)` is free only for a moment: between picking it and the server binding it, any
 * outgoing connection on the machine (a PostgreSQL client, a gRPC channel) or a server choosing its own internal ports
 * can take it, and one CI run failed exactly so (`listen EADDRINUSE` on the API port picked a moment earlier). The kernel
 * never hands out a port below its ephemeral range on its own, and each jest worker draws from a band of its own, so two
 * test files running side by side cannot pick the same port either.
 */
const BAND_SIZE = 1500;
const BANDS_FROM = 20_000;

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && Number.isInteger(low) && low > BANDS_FROM ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** This process's band: jest workers are numbered from 1; the global set-up and benches (no worker id) take band 0. */
function band(): { from: number; to: number } {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  const bands = Math.max(1, Math.floor((ephemeralRangeStart() - BANDS_FROM) / BAND_SIZE));
  const from = BANDS_FROM + (worker % bands) * BAND_SIZE;
  return { from, to: from + BAND_SIZE };
}

const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that is free now, outside the ephemeral range, and not handed out before by this process. */
export async function freePort(): Promise<number> {
  const { from, to } = band();
  const start = from + Math.floor(Math.random() * (to - from));
  for (let step = 0; step < to - from; step += 1) {
    const port = from + ((start - from + step) % (to - from));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on 127.0.0.1 between ${from} and ${to - 1}`);
}
