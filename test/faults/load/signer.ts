import { randomInt, randomUUID } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { ckrOf } from '../../../adapters/pkcs11/errors';
import { signingInput, sha256, type SignerCommand, type SignerInit, type SignerMessage } from './protocol';

/**
 * A signing application, as one would be written against keyrotor: it re-reads the key map (GET /keymap), and signs
 * JWTs through PKCS#11 itself (pkcs11js, the node token's user PIN) on a random node each time, with the version the
 * map names active, its kid being the JWKS's. Some of its keys are "sticky": the application keeps the version it read
 * for a while after it starts retiring, as a slow deployment does; it must keep working until the version is archived.
 *
 * Run as a child process of the load scenario (IPC: protocol.ts).
 */

interface MapVersion {
  version: number;
  kid: string;
  fingerprint: string;
  state: string;
  activatesAt?: string | null;
}
interface MapKey {
  name: string;
  keyType: string;
  activeVersion: number | null;
  versions: MapVersion[];
}

const send = (message: SignerMessage): void => {
  process.send?.(message);
};

const ALG: Record<string, { alg: string; mechanism: number; hashFirst: boolean }> = {
  'ec-p256': { alg: 'ES256', mechanism: pkcs11js.CKM_ECDSA, hashFirst: true },
  'rsa-2048': { alg: 'RS256', mechanism: pkcs11js.CKM_SHA256_RSA_PKCS, hashFirst: false },
  'rsa-3072': { alg: 'RS256', mechanism: pkcs11js.CKM_SHA256_RSA_PKCS, hashFirst: false },
};

/** A token label as C_GetTokenInfo gives it: padded with blanks or, by some modules, with NULs. */
const labelOf = (raw: string): string => raw.replace(/[\s\0]+$/, '');

class Tokens {
  private readonly pkcs11 = new pkcs11js.PKCS11();
  private readonly sessions = new Map<string, pkcs11js.Handle>();

  constructor(init: SignerInit) {
    const envs = new Set(init.nodes.map((node) => JSON.stringify(node.env ?? {})));
    if (envs.size > 1) throw new Error('the signer drives every node through one PKCS#11 module: the nodes must share one module environment');
    Object.assign(process.env, init.nodes[0]?.env ?? {});
    const modulePath = init.nodes[0]?.modulePath;
    if (!modulePath) throw new Error('no HSM node to sign on');
    this.pkcs11.load(modulePath);
    this.pkcs11.C_Initialize();
    const slots = this.pkcs11.C_GetSlotList(true);
    for (const node of init.nodes) {
      const slot = slots.find((candidate) => labelOf(this.pkcs11.C_GetTokenInfo(candidate).label) === node.tokenLabel);
      if (slot === undefined) {
        const labels = slots.map((candidate) => labelOf(this.pkcs11.C_GetTokenInfo(candidate).label));
        throw new Error(`token '${node.tokenLabel}' of ${node.id} is not in the module's slot list (${labels.join(', ') || 'no token'}; SOFTHSM2_CONF ${process.env.SOFTHSM2_CONF ?? 'unset'})`);
      }
      const session = this.pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        this.pkcs11.C_Login(session, pkcs11js.CKU_USER, node.pin);
      } catch (error) {
        if (ckrOf(error) !== 'CKR_USER_ALREADY_LOGGED_IN') throw error;
      }
      this.sessions.set(node.id, session);
    }
  }

  /** Signs `data` with the private key whose CKA_ID is the fingerprint; throws the CKR name when the token refuses. */
  sign(nodeId: string, fingerprint: string, keyType: string, data: string): Buffer {
    const session = this.sessions.get(nodeId) as pkcs11js.Handle;
    const how = ALG[keyType];
    if (!how) throw new Error(`no JWS algorithm for ${keyType}`);
    this.pkcs11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(fingerprint, 'hex') },
    ]);
    const [handle] = this.pkcs11.C_FindObjects(session, 2);
    this.pkcs11.C_FindObjectsFinal(session);
    if (handle === undefined) throw Object.assign(new Error('no private key object'), { ckr: 'NO_PRIVATE_KEY' });
    this.pkcs11.C_SignInit(session, { mechanism: how.mechanism }, handle);
    // CKM_ECDSA signs a digest and answers r || s, which is the JWS form of an ES256 signature.
    return this.pkcs11.C_Sign(session, how.hashFirst ? sha256(data) : Buffer.from(data), Buffer.alloc(1024));
  }

  close(): void {
    for (const session of this.sessions.values()) this.pkcs11.C_CloseSession(session);
    this.pkcs11.C_Finalize();
  }
}

async function readKeymap(init: SignerInit): Promise<MapKey[]> {
  const keys: MapKey[] = [];
  for (let offset = 0; ; offset += 1000) {
    const reply = await fetch(`${init.apiUrl}/keymap?limit=1000&offset=${offset}`, { headers: { authorization: `Bearer ${init.token}` }, signal: AbortSignal.timeout(10_000) });
    if (!reply.ok) throw new Error(`GET /keymap answered ${reply.status}`);
    const page = (await reply.json()) as { total: number; keys: MapKey[] };
    keys.push(...page.keys);
    if (keys.length >= page.total || page.keys.length === 0) return keys;
  }
}

async function run(init: SignerInit): Promise<void> {
  const tokens = new Tokens(init);
  let map: MapKey[] = await readKeymap(init);
  let reads = 1;
  let failures = 0;
  /** For a sticky key: the version the application keeps, since when it saw it retiring, and for how long it keeps it. */
  const kept = new Map<string, { version: number; retiringSeen: number | null; keepFor: number }>();
  const every = Math.max(1, Math.round(1 / init.stickyShare));
  const sticky = new Set(map.map((key) => key.name).sort().filter((_name, index) => index % every === 0));
  /** How long a sticky application keeps a retiring version: between half and all of stickyMs. */
  const keepFor = (): number => init.stickyMs / 2 + randomInt(Math.max(1, Math.floor(init.stickyMs / 2)));
  let stopping = false;
  process.on('message', (command: SignerCommand) => {
    if (command.kind === 'stop') stopping = true;
  });
  const refresh = setInterval(() => {
    readKeymap(init).then(
      (keys) => {
        map = keys;
        reads += 1;
      },
      () => {
        failures += 1;
      },
    );
    send({ kind: 'stats', keymapReads: reads, keymapFailures: failures });
  }, init.keymapRefreshMs);
  send({ kind: 'ready' });

  const intervalMs = 1000 / init.ratePerSecond;
  while (!stopping) {
    const started = Date.now();
    const key = map[randomInt(map.length)];
    const active = key?.versions.find((v) => v.version === key.activeVersion);
    if (key && active) {
      let version = active;
      if (sticky.has(key.name)) {
        const keep = kept.get(key.name);
        const keptVersion = keep ? key.versions.find((v) => v.version === keep.version) : undefined;
        if (keep && keptVersion?.state === 'retiring') {
          // A slow application: it keeps the version it read for a while after the map shows it retiring.
          keep.retiringSeen ??= started;
          if (started < keep.retiringSeen + keep.keepFor) version = keptVersion;
          else kept.set(key.name, { version: active.version, retiringSeen: null, keepFor: keepFor() });
        } else if (!keep || keep.version !== active.version) {
          kept.set(key.name, { version: active.version, retiringSeen: null, keepFor: keepFor() });
        }
      }
      const node = init.nodes[randomInt(init.nodes.length)]?.id as string;
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: ALG[key.keyType]?.alg, kid: version.kid, typ: 'JWT' };
      const claims = { iss: 'keyrotor-load', sub: key.name, iat: now, exp: now + 600, jti: randomUUID() };
      const input = signingInput(header, claims);
      try {
        const signature = tokens.sign(node, version.fingerprint, key.keyType, input);
        send({ kind: 'signed', jwt: `${input}.${signature.toString('base64url')}`, key: key.name, version: version.version, kid: version.kid, node, stateWhenSigned: version.state, signedAt: Date.now() });
      } catch (error) {
        const ckr = ckrOf(error) ?? (error as { ckr?: string }).ckr ?? (error instanceof Error ? error.message : String(error));
        send({ kind: 'refused', key: key.name, version: version.version, node, stateWhenSigned: version.state, ckr, at: Date.now() });
        // The map may be behind what the token knows: read it again before the next signature of this key.
        kept.delete(key.name);
      }
    }
    const wait = intervalMs - (Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
  clearInterval(refresh);
  send({ kind: 'stats', keymapReads: reads, keymapFailures: failures });
  tokens.close();
}

process.once('message', (command: SignerCommand) => {
  if (command.kind !== 'init') return;
  run(command).then(
    () => process.exit(0),
    (error: unknown) => {
      send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    },
  );
});
