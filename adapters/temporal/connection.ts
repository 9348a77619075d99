import { readFileSync } from 'node:fs';
import type { KeyrotorConfig } from '../../domain/config';

/** Address and mTLS settings for every Temporal connection of a process (client and workers alike). */
export function temporalConnectionOptions(config: KeyrotorConfig, address: string): {
  address: string;
  tls?: { clientCertPair: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer; serverNameOverride?: string };
} {
  const tls = config.temporal.tls;
  if (!tls) return { address };
  return {
    address,
    tls: {
      clientCertPair: { crt: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile) },
      ...(tls.serverCaFile ? { serverRootCACertificate: readFileSync(tls.serverCaFile) } : {}),
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    },
  };
}
