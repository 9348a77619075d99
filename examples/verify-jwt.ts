/**
 * Verifies a JWT as an application does, with jose against keyrotor's JWKS: the kid in its header picks the public key.
 *
 *   npx tsx examples/verify-jwt.ts JWT     (the JWKS of KEYROTOR_API, default the local keyrotor)
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { apiBaseUrl } from '../cli/api-client';

async function main(): Promise<void> {
  const jwks = new URL(`${apiBaseUrl()}/.well-known/jwks.json`);
  const { payload, protectedHeader } = await jwtVerify(process.argv[2] ?? '', createRemoteJWKSet(jwks), { algorithms: ['ES256'] });
  process.stdout.write(`valid: kid ${protectedHeader.kid ?? '-'}, payload ${JSON.stringify(payload)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`not valid: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
