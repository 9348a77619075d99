import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomInt, sign as signWith } from 'node:crypto';
import { join } from 'node:path';
import type { TokenAccess } from '../../support/pkcs11-listing';
import { uniqueName } from '../../support/system';
import { b64url, signingInput, type SignedToken, type SignerCommand, type SignerMessage, type SignRefused, type VerifierCommand, type VerifierMessage, type VerifyResult } from './protocol';

/**
 * Scenario 5's load: applications verifying JWTs against the JWKS while many keys rotate. A signing application (its
 * own process) re-reads the key map and signs through PKCS#11 on random nodes; verifier processes check every token as
 * jose's cached remote key set does; keys rotate on their maxAge, on manual requests and on a few emergencies. Every
 * token is classified afterwards against what the key map says happened to its version.
 */

export interface LoadTarget {
  apiUrl: string;
  adminToken: string;
  nodes: Array<{ id: string } & TokenAccess>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies of several routes, read field by field
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export interface JwtLoadParams {
  keys: number;
  /** Every n-th key is rsa-2048, the others ec-p256. */
  rsaEvery: number;
  verifiers: number;
  /** How long the signer signs while keys rotate. */
  durationMs: number;
  /** Manual rotations asked over the run (besides the maxAge ones the policy brings). */
  manualRotations: number;
  emergencyRotations: number;
  ratePerSecond: number;
  /** The keys' policy: short grace periods and maxAge, so that versions turn over during the run. */
  policy: Record<string, unknown>;
}

/** Emergency rotations are the documented exception: how long a verifier may still reject the new version's tokens. */
export const JOSE_COOLDOWN_MS = 30_000;
/** How long before its recorded time a step's effect may reach a token (the HSM step runs, then the state is recorded). */
const STEP_SLACK_MS = 5_000;

export interface JwtLoadResult {
  keys: number;
  rotations: number;
  emergencies: number;
  signed: number;
  verifications: number;
  failedVerifications: number;
  /** Tokens of a version an emergency rotation compromised, refused once verifiers dropped it: revoked, as documented. */
  revokedRejections: number;
  /** Tokens of the version an emergency rotation activated at once, refused by a verifier inside its cooldown (documented). */
  emergencyWindowRejections: number;
  /** Signatures of a retiring version the signer made after it started retiring (the sticky application). */
  retiringSigned: number;
  forged: { sent: number; accepted: number };
  signRefusals: { expected: number; unexpected: number };
  acknowledged: Array<{ key: string; version: number }>;
  failures: string[];
}

interface MapVersion {
  version: number;
  kid: string;
  state: string;
  publishedAt: string | null;
  activatedAt: string | null;
  retiringAt: string | null;
  archivedAt: string | null;
  compromisedAt: string | null;
  lineage: { trigger: string };
}
interface MapKey {
  name: string;
  phase: string;
  activeVersion: number | null;
  versions: MapVersion[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (text: string | null): number | null => (text ? Date.parse(text) : null);

function child(file: string): ChildProcess {
  // This process's environment as the code sees it (under jest, a sandbox's copy holding the module's SOFTHSM2_CONF).
  return fork(join(__dirname, file), [], { execArgv: ['--require', 'tsx/cjs'], env: { ...process.env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function readKeymap(target: LoadTarget, prefix: string): Promise<MapKey[]> {
  const keys: MapKey[] = [];
  for (let offset = 0; ; offset += 1000) {
    const reply = await target.api('GET', `/keymap?limit=1000&offset=${offset}`);
    if (reply.status !== 200) throw new Error(`GET /keymap answered ${reply.status}`);
    const page = reply.body as { total: number; keys: MapKey[] };
    keys.push(...page.keys);
    if (keys.length >= page.total || page.keys.length === 0) return keys.filter((key) => key.name.startsWith(prefix));
  }
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(500);
  }
}

/** Forged tokens: none may verify. A foreign key under a real kid, a changed claim, alg none, an unknown kid. */
function forgeries(genuine: SignedToken): string[] {
  const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'keyrotor-load', sub: genuine.key, iat: now, exp: now + 600 };
  const foreignSigned = (kid: string): string => {
    const input = signingInput({ alg: 'ES256', kid, typ: 'JWT' }, claims);
    return `${input}.${b64url(signWith('sha256', Buffer.from(input), { key: foreign.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
  };
  const [header, , signature] = genuine.jwt.split('.');
  const changed = `${header}.${b64url(JSON.stringify({ ...claims, sub: 'someone-else' }))}.${signature}`;
  const none = `${b64url(JSON.stringify({ alg: 'none', kid: genuine.kid }))}.${b64url(JSON.stringify(claims))}.`;
  return [foreignSigned(genuine.kid), changed, none, foreignSigned(`${genuine.key}.v999.deadbeef`)];
}

export async function runJwtLoad(target: LoadTarget, params: JwtLoadParams, log: (line: string) => void): Promise<JwtLoadResult> {
  const prefix = uniqueName('jwt');
  const names = Array.from({ length: params.keys }, (_, index) => `${prefix}-${String(index).padStart(2, '0')}`);
  const acknowledged: JwtLoadResult['acknowledged'] = [];
  const failures: string[] = [];

  log(`creating ${names.length} keys (${names.filter((_, i) => i % params.rsaEvery === params.rsaEvery - 1).length} rsa-2048, the others ec-p256)`);
  for (const [index, name] of names.entries()) {
    const type = index % params.rsaEvery === params.rsaEvery - 1 ? 'rsa-2048' : 'ec-p256';
    const created = await target.api('POST', '/keys', { name, type, policy: params.policy, reason: 'JWT load scenario' });
    if (created.status !== 202) throw new Error(`POST /keys ${name} answered ${created.status}: ${JSON.stringify(created.body)}`);
    acknowledged.push({ key: name, version: 1 });
  }
  await until(async () => ((await readKeymap(target, prefix)).filter((key) => key.activeVersion !== null).length === names.length ? true : undefined), 'every key to be active', 10 * 60_000);
  log('every key is active');

  const reader = await target.api('POST', '/tokens', { name: `${prefix} signer`, role: 'auditor' });
  if (reader.status !== 201) throw new Error(`POST /tokens answered ${reader.status}`);

  const verifiers = Array.from({ length: params.verifiers }, () => child('verifier.ts'));
  const results = new Map<number, VerifyResult[]>();
  const tokens: SignedToken[] = [];
  const refusals: SignRefused[] = [];
  let outstanding = 0;
  const childErrors: string[] = [];
  for (const verifier of verifiers) {
    verifier.on('message', (message: VerifierMessage) => {
      if (message.kind === 'verified') {
        outstanding -= 1;
        results.set(message.id, [...(results.get(message.id) ?? []), message]);
      } else if (message.kind === 'error') childErrors.push(message.message);
    });
    verifier.send({ kind: 'init', jwksUrl: `${target.apiUrl}/.well-known/jwks.json` } satisfies VerifierCommand);
  }
  let lastId = 0;
  const verify = (jwt: string): number => {
    lastId += 1;
    const id = lastId;
    for (const verifier of verifiers) {
      outstanding += 1;
      verifier.send({ kind: 'verify', id, jwt } satisfies VerifierCommand);
    }
    return id;
  };
  const tokenIds = new Map<number, SignedToken>();

  const signer = child('signer.ts');
  const signerReady = new Promise<void>((resolve, reject) => {
    signer.on('message', (message: SignerMessage) => {
      if (message.kind === 'ready') resolve();
      else if (message.kind === 'signed') {
        tokens.push(message);
        tokenIds.set(verify(message.jwt), message);
      } else if (message.kind === 'refused') refusals.push(message);
      else if (message.kind === 'error') {
        childErrors.push(message.message);
        reject(new Error(`the signer failed: ${message.message}`));
      }
    });
    signer.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the signer exited with ${code}`))));
  });
  const stopChildren = (): void => {
    for (const process of [signer, ...verifiers]) if (process.exitCode === null) process.kill('SIGTERM');
  };

  try {
    signer.send({
      kind: 'init', apiUrl: target.apiUrl, token: (reader.body as { token: string }).token, nodes: target.nodes, keymapRefreshMs: 2000, ratePerSecond: params.ratePerSecond, stickyShare: 0.3, stickyMs: 20_000,
    } satisfies SignerCommand);
    await signerReady;
    log(`signer and ${verifiers.length} verifiers running; rotating for ${Math.round(params.durationMs / 1000)} s`);

    // Manual and emergency rotations spread over the run, on keys that can take one (active, no grace period running).
    const started = Date.now();
    const plan = [...Array.from({ length: params.manualRotations }, () => false), ...Array.from({ length: params.emergencyRotations }, () => true)]
      .map((emergency) => ({ emergency, at: started + randomInt(Math.max(1, params.durationMs - 20_000)) }))
      .sort((a, b) => a.at - b.at);
    const inFlight: Array<Promise<void>> = [];
    let emergencies = 0;
    for (const step of plan) {
      await sleep(Math.max(0, step.at - Date.now()));
      const map = await readKeymap(target, prefix);
      const candidates = map.filter((key) => (step.emergency ? key.phase !== 'decommissioned' : key.phase === 'active'));
      const key = candidates[randomInt(Math.max(1, candidates.length))];
      if (!key) continue;
      const reason = step.emergency ? 'load scenario: presumed compromised' : 'load scenario: scheduled rotation';
      inFlight.push(
        target.api('POST', `/keys/${key.name}/rotate`, { reason, emergency: step.emergency }).then((reply) => {
          if (reply.status === 200) {
            acknowledged.push({ key: key.name, version: (reply.body as { version: number }).version });
            if (step.emergency) emergencies += 1;
          } else if (reply.status !== 409) failures.push(`POST /keys/${key.name}/rotate (emergency ${step.emergency}) answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        }),
      );
    }
    await sleep(Math.max(0, started + params.durationMs - Date.now()));
    signer.send({ kind: 'stop' } satisfies SignerCommand);
    await Promise.all(inFlight);
    await until(() => (outstanding === 0 && signer.exitCode !== null ? true : undefined), 'the last verifications', 120_000);

    // Forgeries, against every verifier.
    const forged: string[] = tokens.length > 0 ? forgeries(tokens[randomInt(tokens.length)] as SignedToken) : [];
    const forgedIds = forged.map((jwt) => verify(jwt));
    await until(() => (outstanding === 0 ? true : undefined), 'the forged tokens\' verifications', 60_000);
    for (const error of childErrors) failures.push(`a child process failed: ${error}`);

    // Classify every verification against what happened to the token's version.
    const map = await readKeymap(target, prefix);
    const versionOf = new Map(map.flatMap((key) => key.versions.map((v) => [`${key.name}/${v.version}`, { key, v }] as const)));
    let failed = 0;
    let revoked = 0;
    let emergencyWindow = 0;
    let verifications = 0;
    for (const [id, token] of tokenIds) {
      const { key, v } = versionOf.get(`${token.key}/${token.version}`) as { key: MapKey; v: MapVersion };
      for (const result of results.get(id) ?? []) {
        verifications += 1;
        if (result.ok) continue;
        const compromisedAt = ms(v.compromisedAt);
        // The version an emergency replaced stops signing and leaves the JWKS at once: its tokens are revoked.
        if (compromisedAt !== null && result.at >= compromisedAt - STEP_SLACK_MS) {
          revoked += 1;
          continue;
        }
        // An emergency activates its version at once (no publication lead): a verifier that fetched the key set within its
        // cooldown before rejects the new version's tokens until the cooldown ends.
        const previous = key.versions.find((candidate) => candidate.version < v.version && candidate.compromisedAt !== null && ms(candidate.compromisedAt) !== null && Math.abs((ms(candidate.compromisedAt) as number) - (ms(v.activatedAt) ?? 0)) < 60_000);
        if (previous && result.code === 'ERR_JWKS_NO_MATCHING_KEY' && result.at < (ms(v.publishedAt) ?? 0) + JOSE_COOLDOWN_MS + STEP_SLACK_MS) {
          emergencyWindow += 1;
          continue;
        }
        failed += 1;
        if (failures.length < 20) {
          failures.push(`${token.kid} (signed ${new Date(token.signedAt).toISOString()} while ${token.stateWhenSigned}; published ${v.publishedAt}, activated ${v.activatedAt}, archived ${v.archivedAt}) refused at ${new Date(result.at).toISOString()}: ${result.code}`);
        }
      }
    }
    let forgedAccepted = 0;
    for (const id of forgedIds) for (const result of results.get(id) ?? []) if (result.ok) forgedAccepted += 1;

    // A refused signature is expected only from a version whose private key an archive or an emergency took away.
    let refusedExpected = 0;
    for (const refusal of refusals) {
      const v = versionOf.get(`${refusal.key}/${refusal.version}`)?.v;
      const gone = Math.min(ms(v?.archivedAt ?? null) ?? Infinity, ms(v?.compromisedAt ?? null) ?? Infinity);
      if (refusal.at >= gone - STEP_SLACK_MS) refusedExpected += 1;
      else failures.push(`signing with ${refusal.key} v${refusal.version} (${refusal.stateWhenSigned}) on ${refusal.node} was refused (${refusal.ckr}) at ${new Date(refusal.at).toISOString()}, before it was archived`);
    }
    const rotations = map.reduce((sum, key) => sum + key.versions.filter((v) => v.activatedAt !== null).length - 1, 0);
    return {
      keys: names.length,
      rotations,
      emergencies,
      signed: tokens.length,
      verifications,
      failedVerifications: failed,
      revokedRejections: revoked,
      emergencyWindowRejections: emergencyWindow,
      retiringSigned: tokens.filter((token) => token.stateWhenSigned === 'retiring').length,
      forged: { sent: forgedIds.length * verifiers.length, accepted: forgedAccepted },
      signRefusals: { expected: refusedExpected, unexpected: refusals.length - refusedExpected },
      acknowledged,
      failures,
    };
  } finally {
    stopChildren();
  }
}
