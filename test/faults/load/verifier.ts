import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { VerifierCommand, VerifierMessage } from './protocol';

/**
 * A verifying application, as most are written: jose's createRemoteJWKSet with its defaults (the key set is cached for
 * 10 minutes, and an unknown kid makes it fetch again at most once per 30 s cooldown), and jwtVerify. It answers each
 * token with whether it verified and, if not, jose's error code. Run as a child process of the load scenario.
 */

const send = (message: VerifierMessage): void => {
  process.send?.(message);
};

let keySet: ReturnType<typeof createRemoteJWKSet> | undefined;

process.on('message', (command: VerifierCommand) => {
  if (command.kind === 'init') {
    keySet = createRemoteJWKSet(new URL(command.jwksUrl));
    send({ kind: 'ready' });
  } else if (command.kind === 'verify') {
    const set = keySet;
    if (!set) return send({ kind: 'error', message: 'verify before init' });
    const kid = (() => {
      try {
        return (JSON.parse(Buffer.from(command.jwt.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string }).kid ?? null;
      } catch {
        return null;
      }
    })();
    jwtVerify(command.jwt, set, { issuer: 'keyrotor-load' }).then(
      () => send({ kind: 'verified', id: command.id, ok: true, code: null, kid, at: Date.now() }),
      (error: unknown) => send({ kind: 'verified', id: command.id, ok: false, code: error instanceof errors.JOSEError ? error.code : String(error), kid, at: Date.now() }),
    );
  } else {
    process.exit(0);
  }
});
