import { Client, Connection } from '@temporalio/client';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL, MAP_SIGNING_KEY_LABEL, keyWorkflowId } from '../../domain/identifiers';
import { listTokenObjects, type TokenAccess, type TokenObject } from '../support/pkcs11-listing';

/**
 * What must hold after any fault, checked with witnesses outside keyrotor's own code where they exist: every token as
 * OpenSC's pkcs11-tool lists it, the JWKS as an application fetches it, the audit chain as GET /audit/verify recomputes
 * it, and each key's workflow as the Temporal server describes it. GET /keys(/:name) names the versions the tokens are
 * held against. Check once the system has settled (the scenario waited for its keys): a rotation under way is not
 * a violation, a rotation that never finishes is.
 */

/** What keyrotor acknowledged to its callers: create 202 → v1, rotate 200 → the version it answered. */
export interface Ledger {
  acknowledged: Array<{ key: string; version: number }>;
}

export interface InvariantTarget {
  apiUrl: string;
  /** An API token that may read keys, alerts and the audit log (an admin's). */
  token: string;
  temporalAddress: string;
  nodes: Array<{ id: string } & TokenAccess>;
}

export interface InvariantCounts {
  /** Every key's workflow running and none held, every acknowledged rotation finished. */
  completed: boolean;
  /** Versions with two objects of one class on one token + keys with two active versions. */
  duplicates: number;
  /** Key objects (one per CKA_ID, or label when it has none, per token) that match no live version of any key. */
  orphans: number;
  /** Acknowledged versions missing + active/retiring versions absent (in part) from some node or from the JWKS. */
  lost: number;
  /** Versions pending past their retry window + keys waiting or held with no open alert about them. */
  stranded: number;
  auditVerified: boolean;
  /** One line per violation, naming what was seen where. */
  witnesses: string[];
}

export interface InvariantOptions {
  /** How long a version may stay pending before it counts as stranded (default 120 s: a retry is due within 30 s). */
  pendingWindowMs?: number;
  /** Now, for the pending window (default the clock). */
  nowMs?: number;
}

interface VersionView {
  version: number;
  kid: string;
  fingerprint: string;
  state: string;
  createdAt: string;
}

interface KeyView {
  name: string;
  phase: string;
  versions: VersionView[];
  held: { step: string; reason: string; since: string } | null;
  waiting: { for: string; since: string; nodes?: string[]; step?: string } | null;
  working: string | null;
}

/** keyrotor's own objects on every token: the wrapping keys and the key map's signing pair. Not keys of any version. */
const INFRASTRUCTURE_LABELS = new Set<string>([CLUSTER_KEK_LABEL, ARCHIVE_KEK_LABEL, MAP_SIGNING_KEY_LABEL]);
const KEY_CLASSES = new Set<TokenObject['class']>(['privkey', 'pubkey', 'secrkey']);
/** The version states whose private key must be on every node. */
const LIVE_STATES = new Set(['active', 'retiring']);

async function getJson(target: InvariantTarget, path: string, authorised = true): Promise<unknown> {
  const response = await fetch(`${target.apiUrl}${path}`, authorised ? { headers: { authorization: `Bearer ${target.token}` } } : {});
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function allKeys(target: InvariantTarget): Promise<KeyView[]> {
  const names: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = (await getJson(target, `/keys?limit=500&offset=${offset}`)) as { keys: Array<{ name: string }>; total: number };
    names.push(...page.keys.map((key) => key.name));
    if (page.keys.length < 500) break;
  }
  const keys: KeyView[] = [];
  for (const name of names) keys.push((await getJson(target, `/keys/${encodeURIComponent(name)}`)) as KeyView);
  return keys;
}

/** How long a key's newest generated version may take to be recorded before its objects count as orphans. */
const RECORD_WINDOW_MS = 120_000;

/**
 * Whether an object no read version owns is a key's next version whose generation was under way when the keys were
 * read: its label names a known key and a version after every one read, and the key records that version with this
 * object's fingerprint within RECORD_WINDOW_MS. A generation that is never recorded stays an orphan.
 */
async function recordedSoon(target: InvariantTarget, object: TokenObject, byName: Map<string, KeyView>): Promise<boolean> {
  const label = /^keyrotor:(.+):v(\d+)$/.exec(object.label ?? '');
  const key = label ? byName.get(label[1]!) : undefined;
  if (!label || !key || key.versions.some((v) => v.version >= Number(label[2]))) return false;
  const deadline = Date.now() + RECORD_WINDOW_MS;
  while (Date.now() < deadline) {
    const now = (await getJson(target, `/keys/${encodeURIComponent(key.name)}`)) as KeyView;
    const version = now.versions.find((v) => v.version === Number(label[2]));
    if (version) return version.fingerprint.toLowerCase() === object.idHex;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

/** Whether a key's version leaves the live states (archived, compromised, purged) within RECORD_WINDOW_MS. */
async function leftLiveSoon(target: InvariantTarget, name: string, version: number): Promise<boolean> {
  const deadline = Date.now() + RECORD_WINDOW_MS;
  while (Date.now() < deadline) {
    const now = (await getJson(target, `/keys/${encodeURIComponent(name)}`)) as KeyView;
    const state = now.versions.find((v) => v.version === version)?.state;
    if (state !== undefined && !LIVE_STATES.has(state)) return true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

async function workflowStatuses(target: InvariantTarget, names: string[]): Promise<Map<string, string>> {
  const connection = await Connection.connect({ address: target.temporalAddress });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const statuses = new Map<string, string>();
    for (const name of names) {
      try {
        const description = await client.workflow.getHandle(keyWorkflowId(name)).describe();
        statuses.set(name, description.status.name);
      } catch (error) {
        statuses.set(name, `not found (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    return statuses;
  } finally {
    await connection.close();
  }
}

/**
 * A token's objects as pkcs11-tool reads them once no half-written key object shows. SoftHSM writes a new object's file
 * before its attributes, so a read while a worker creates an object (a replica, a rotation's pair) can show a key
 * object without label or ID, which has its attributes moments later. A leftover keeps none: read again, a second
 * apart and for up to 10 s, while one shows, and count what is still there.
 */
async function settledListing(node: TokenAccess): Promise<TokenObject[]> {
  const unnamedKey = (object: TokenObject): boolean => KEY_CLASSES.has(object.class) && object.idHex === null && (object.label === null || object.label === '');
  let objects = listTokenObjects(node);
  for (let read = 1; read < 10 && objects.some(unnamedKey); read += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    objects = listTokenObjects(node);
  }
  return objects;
}

/** Checks every invariant once and counts the violations; `witnesses` says what each one is. */
export async function checkInvariants(target: InvariantTarget, ledger: Ledger, options: InvariantOptions = {}): Promise<InvariantCounts> {
  const nowMs = options.nowMs ?? Date.now();
  const pendingWindowMs = options.pendingWindowMs ?? 120_000;
  const witnesses: string[] = [];
  const keys = await allKeys(target);
  const byName = new Map(keys.map((key) => [key.name, key]));
  const jwks = (await getJson(target, '/.well-known/jwks.json', false)) as { keys: Array<{ kid: string }> };
  const published = new Set(jwks.keys.map((jwk) => jwk.kid));
  const audit = (await getJson(target, '/audit/verify')) as { ok: boolean; problems: Array<{ seq: number; kind: string; message: string }> };
  const openAlerts = (await getJson(target, '/alerts?state=open&limit=500')) as { alerts: Array<{ subject: string; message: string }> };
  const statuses = await workflowStatuses(target, keys.map((key) => key.name));
  const tokens = await Promise.all(target.nodes.map(async (node) => ({ node: node.id, objects: await settledListing(node) })));

  // Completed: every workflow runs (a decommissioned key's has finished), every acknowledged version finished.
  let completed = true;
  for (const key of keys) {
    const status = statuses.get(key.name);
    const expected = key.phase === 'decommissioned' ? 'COMPLETED' : 'RUNNING';
    if (status !== expected) {
      completed = false;
      witnesses.push(`completed: the workflow of ${key.name} (${key.phase}) is ${status ?? 'unknown'}, not ${expected}`);
    }
    if (key.held) {
      // A held key has stopped at a step: whatever it was doing has not finished.
      completed = false;
      witnesses.push(`completed: ${key.name} is held at "${key.held.step}" since ${key.held.since}: ${key.held.reason}`);
    }
  }
  let lost = 0;
  for (const { key: name, version } of ledger.acknowledged) {
    const found = byName.get(name)?.versions.find((v) => v.version === version);
    if (!found) {
      lost += 1;
      witnesses.push(`lost: v${version} of ${name} was acknowledged and is not recorded`);
    } else if (found.state === 'pending') {
      completed = false;
      witnesses.push(`completed: v${version} of ${name} was acknowledged and is still pending`);
    }
  }

  // Duplicates: two objects of one class and one CKA_ID on one token; two active versions of one key.
  let duplicates = 0;
  for (const { node, objects } of tokens) {
    const seen = new Map<string, number>();
    for (const object of objects) {
      if (!KEY_CLASSES.has(object.class) || object.idHex === null) continue;
      const id = `${object.class}/${object.idHex}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    for (const [id, count] of seen) {
      if (count < 2) continue;
      duplicates += 1;
      witnesses.push(`duplicates: ${node} holds ${count} objects ${id}`);
    }
  }
  for (const key of keys) {
    const active = key.versions.filter((v) => v.state === 'active');
    if (active.length > 1) {
      duplicates += 1;
      witnesses.push(`duplicates: ${key.name} has ${active.length} active versions (${active.map((v) => `v${v.version}`).join(', ')})`);
    }
  }

  // Orphans: key objects no version accounts for. A pending version's objects are its own (a rotation under way).
  const versionsById = new Map<string, { key: string; version: VersionView }>();
  for (const key of keys) for (const version of key.versions) versionsById.set(version.fingerprint.toLowerCase(), { key: key.name, version });
  let orphans = 0;
  for (const { node, objects } of tokens) {
    const groups = new Map<string, { classes: string[]; label: string | null; why: string }>();
    for (const object of objects) {
      if (!KEY_CLASSES.has(object.class) || (object.label !== null && INFRASTRUCTURE_LABELS.has(object.label))) continue;
      const owner = object.idHex === null ? undefined : versionsById.get(object.idHex);
      const why = !owner
        ? 'matches no version of any key'
        : owner.version.state === 'purged'
          ? `belongs to v${owner.version.version} of ${owner.key}, which is purged`
          : object.class === 'privkey' && owner.version.state === 'archived'
            ? `is the private key of v${owner.version.version} of ${owner.key}, which is archived`
            : null;
      if (why === null) continue;
      // A key's next version generated while the keys were read: its record follows (a rotation under way).
      if (!owner && object.idHex !== null && (await recordedSoon(target, object, byName))) continue;
      const id = object.idHex === null ? `no id, label ${object.label ?? '(none)'}` : `id ${object.idHex}`;
      const group = groups.get(id) ?? { classes: [], label: object.label, why };
      group.classes.push(object.class);
      groups.set(id, group);
    }
    for (const [id, group] of groups) {
      orphans += 1;
      witnesses.push(`orphans: ${node} holds ${group.classes.sort().join('+')} '${group.label ?? ''}' (${id}), which ${group.why}`);
    }
  }

  // Lost: a live version must be whole on every node and in the JWKS.
  for (const key of keys) {
    for (const version of key.versions.filter((v) => LIVE_STATES.has(v.state))) {
      // A retiring version archived while the keys were read (the keys keep rotating in the load scenario): its private
      // keys go and it leaves the JWKS as the archive records it. One that stays retiring without them is lost.
      const incomplete = tokens.some(({ objects }) => objects.filter((object) => object.idHex === version.fingerprint.toLowerCase()).length < 2) || !published.has(version.kid);
      if (incomplete && version.state === 'retiring' && (await leftLiveSoon(target, key.name, version.version))) continue;
      for (const { node, objects } of tokens) {
        const classes = objects.filter((object) => object.idHex === version.fingerprint.toLowerCase()).map((object) => object.class);
        const missing = (['privkey', 'pubkey'] as const).filter((kind) => !classes.includes(kind));
        if (missing.length === 0) continue;
        lost += 1;
        witnesses.push(`lost: v${version.version} of ${key.name} is ${version.state} and ${node} lacks its ${missing.join(' and ')}`);
      }
      if (!published.has(version.kid)) {
        lost += 1;
        witnesses.push(`lost: v${version.version} of ${key.name} is ${version.state} and the JWKS does not carry ${version.kid}`);
      }
    }
  }

  // Stranded: a pending version past its retry window; a key that waits or is held with nobody told.
  let stranded = 0;
  for (const key of keys) {
    for (const version of key.versions.filter((v) => v.state === 'pending' && nowMs - Date.parse(v.createdAt) > pendingWindowMs)) {
      stranded += 1;
      witnesses.push(`stranded: v${version.version} of ${key.name} has been pending since ${version.createdAt} (${key.working ?? 'no work under way'})`);
    }
    const stuck = key.held ? `held at "${key.held.step}" since ${key.held.since}` : key.waiting ? `waiting since ${key.waiting.since} for ${key.waiting.nodes ? `${key.waiting.nodes.join(', ')} (${key.waiting.step ?? '?'})` : key.waiting.for}` : null;
    if (stuck === null) continue;
    const told = openAlerts.alerts.some((alert) => alert.subject === `key/${key.name}`);
    if (told) continue;
    stranded += 1;
    witnesses.push(`stranded: ${key.name} is ${stuck}, and no open alert says so`);
  }

  if (!audit.ok) witnesses.push(`audit: the chain does not verify: ${audit.problems.slice(0, 3).map((p) => `#${p.seq} ${p.kind}: ${p.message}`).join('; ')}`);
  return { completed, duplicates, orphans, lost, stranded, auditVerified: audit.ok, witnesses };
}

