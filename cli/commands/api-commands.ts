import { randomUUID } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { AlertReply } from '../../api/schemas/alerts';
import type { MapVersionSchema, SyncResultSchema } from '../../api/schemas/keymap';
import type { KeyDetail, KeyList, RotationAcceptedSchema } from '../../api/schemas/keys';
import type { TokenInfoSchema } from '../../api/schemas/tokens';
import type { Command } from 'commander';
import { UserError } from '../../domain/errors';
import { ROLES } from '../../adapters/postgres/token-repository';
import { describeWaiting } from '../../domain/keys/node-wait';
import { ApiRefusedError, ApiUnavailableError, EXIT_CODES, EXIT_CODES_HELP, callApi, type ApiRequest } from '../api-client';
import { fields, table } from '../table';

/**
 * The commands that act through the API, one declaration each: the words that name it, its arguments and options,
 * the request it sends, how its reply reads as a table, and an example for --help. `--json` prints the reply as the API
 * sent it; the exit codes are those of EXIT_CODES.
 */
interface Input {
  args: string[];
  options: Record<string, string | boolean | string[] | undefined>;
}

interface ApiCommand<Reply> {
  words: [string] | [string, string];
  summary: string;
  args?: string[];
  options?: Array<{ flags: string; description: string; required?: boolean }>;
  example: string;
  /** Runs before the request; throws to stop it (a confirmation not given). */
  confirm?: (input: Input) => Promise<void>;
  request: (input: Input) => ApiRequest;
  show: (reply: Reply) => string;
  /** The reply says the thing checked is not right: exit 1. */
  failed?: (reply: Reply) => boolean;
  /** `--wait`: follow the work the request starts, from what the API shows of it, until it is over. */
  follow?: Follow<unknown>;
  /**
   * With `--wait`, ask for the early answer (`Prefer: respond-async`) rather than hold a request open while the work
   * runs, follow the work to its end, then print what the synchronous answer would have said: `settle` makes it from
   * the early answer and the state the follow ended on.
   */
  early?: { settle: (accepted: unknown, state: unknown) => Reply };
}

/**
 * What `--wait` polls while the request runs and after its reply, the lines each change prints, and when the work is
 * over: undefined while it goes on, 'done', or 'held' (exit 1: the work stopped and needs an operator).
 */
interface Follow<State> {
  poll(input: Input): ApiRequest;
  changes(before: State | undefined, now: State): string[];
  outcome(now: State): 'done' | 'held' | undefined;
}

/** Each declaration keeps its own state type; the commands hold them all. */
const follow = <State>(spec: Follow<State>): Follow<unknown> => spec;
const POLL_MS = 500;

/** Each declaration keeps its own reply type; the registry holds them all. */
function command<Reply>(spec: ApiCommand<Reply>): ApiCommand<unknown> {
  return spec as unknown as ApiCommand<unknown>;
}

const groups: Record<string, string> = {
  keys: 'Managed keys: list, show, create, rotate, extend or end a grace period, resume, change the policy, decommission',
  alerts: 'Alerts: list, acknowledge',
  audit: 'The hash-chained audit log: list its entries, verify the chain',
  keymap: 'The cluster key map: show it, sync the nodes now',
  tokens: 'API tokens (admin)',
};

/** `field=value` pairs as a policy change: numbers and null as such, everything else as text (durations: 90d, 12h). */
function assignments(pairs: string[] | undefined): Record<string, unknown> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  return Object.fromEntries(pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new UserError('invalid_assignment', `'${pair}' is not field=value (for example gracePeriod=7d or capacityLimit=null)`);
    const raw = pair.slice(at + 1);
    const value = raw === 'null' ? null : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    return [pair.slice(0, at), value];
  }));
}

async function confirmEmergency(input: Input): Promise<void> {
  const name = input.args[0] ?? '';
  if (!input.options.emergency || input.options.yes) return;
  if (!process.stdin.isTTY) {
    throw new UserError('confirmation_required', `an emergency rotation marks ${name}'s active version compromised and archives it without a grace period; not on a terminal, pass --yes to confirm`);
  }
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Emergency rotation: ${name}'s active version stops signing on every node now and is marked compromised.\nType the key's name to go on: `);
    if (answer.trim() !== name) throw new UserError('not_confirmed', 'not confirmed; nothing was changed');
  } finally {
    prompt.close();
  }
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const reason = { flags: '--reason <text>', description: 'why (recorded in the audit log)', required: true };
const paging = [
  { flags: '--limit <n>', description: 'at most this many' },
  { flags: '--offset <n>', description: 'skip this many' },
];
const page = (input: Input) => ({ limit: text(input.options.limit), offset: text(input.options.offset) });

// The replies' types come from the API's schemas (type-only imports: nothing of the API loads with the command).
type KeyListItem = KeyList['keys'][number];
type RotationAccepted = Static<typeof RotationAcceptedSchema>;
type Alert = AlertReply;
type TokenInfo = Static<typeof TokenInfoSchema>;
type MapVersion = Static<typeof MapVersionSchema>;
type SyncNode = Static<typeof SyncResultSchema>['nodes'][number];

const risk = (key: Pick<KeyListItem, 'prediction'>): string => (key.prediction?.riskScore == null ? '-' : `${key.prediction.riskScore.toFixed(2)}/${key.prediction.riskThreshold}`);

/** A key's work as GET /keys/:name shows it: the step running, what it waits for, a hold, each version's state. */
const followKey = follow<KeyDetail>({
  poll: (input) => ({ method: 'GET', path: `/keys/${encodeURIComponent(input.args[0]!)}` }),
  changes: (before, now) => {
    const lines: string[] = [];
    if (now.working !== (before?.working ?? null)) lines.push(now.working ? `working: ${now.working}` : `done: ${before?.working ?? 'nothing'}`);
    const waiting = (view: KeyDetail | undefined): string | null => (view?.waiting ? describeWaiting(view.waiting) : null);
    if (waiting(now) !== waiting(before)) lines.push(now.waiting ? `waiting for ${waiting(now) as string}` : 'no longer waiting');
    if (now.held && now.held.step !== before?.held?.step) lines.push(`HELD at ${now.held.step}: ${now.held.reason} (fix it, then keyrotor keys resume ${now.name})`);
    for (const version of now.versions) {
      const was = before?.versions.find((v) => v.version === version.version)?.state;
      if (was !== version.state) lines.push(`v${version.version} ${was ? `${was} → ` : ''}${version.state}`);
    }
    return lines;
  },
  outcome: (now) => keyWorkOutcome(now),
});

/**
 * Whether a key's work is over, as `--wait` sees it: held, or idle with nothing waiting and no version compromised. A
 * compromised version is archived at once (no grace), and between the emergency rotation and that archive the key may
 * look idle for a poll: the emergency's work is over once its compromised version is archived.
 */
export function keyWorkOutcome(now: Pick<KeyDetail, 'held' | 'working' | 'waiting' | 'versions'>): 'done' | 'held' | undefined {
  if (now.held) return 'held';
  return now.working === null && now.waiting === null && !now.versions.some((version) => version.state === 'compromised') ? 'done' : undefined;
}

/** A new key: as followKey, over once its first version is active (before its workflow's first step it looks idle). */
const followNewKey = follow<KeyDetail>({ ...followKey, outcome: (now) => (now.activeVersion === null && !now.held ? undefined : followKey.outcome(now)) });

interface NodesView { lastSync: { runId: string; trigger: string; startedAt: string; finishedAt: string | null } | null; nodes: Array<{ id: string; inSync: boolean; stale: boolean; staleReason?: string | null; lastSyncAt?: string | null; acknowledged: { epoch: number } | null }> }

/** A sync as GET /keymap/nodes shows it: the run that started and ended, and each node as the sync reaches it. */
const followSync = follow<NodesView>({
  poll: () => ({ method: 'GET', path: '/keymap/nodes' }),
  changes: (before, now) => {
    const lines: string[] = [];
    const run = now.lastSync;
    if (run && run.runId !== before?.lastSync?.runId) lines.push(`sync ${run.runId} started (${run.trigger})`);
    for (const node of now.nodes) {
      const was = before?.nodes.find((n) => n.id === node.id);
      if (before && node.lastSyncAt !== was?.lastSyncAt) {
        lines.push(`${node.id}: ${node.stale ? `not reached (${node.staleReason ?? 'no reason given'})` : `${node.inSync ? 'in sync' : 'behind'} at epoch ${node.acknowledged?.epoch ?? '-'}`}`);
      }
    }
    if (run?.finishedAt && (run.runId !== before?.lastSync?.runId || !before.lastSync.finishedAt)) lines.push(`sync ${run.runId} finished`);
    return lines;
  },
  // The sync's reply comes when the run is over; the last poll after it shows every node it reached.
  outcome: () => 'done',
});

export const apiCommands: Array<ApiCommand<unknown>> = [
  command<{ keys: KeyListItem[]; total: number }>({
    words: ['keys', 'list'],
    summary: 'List managed keys, by name (GET /keys)',
    options: [{ flags: '--phase <phase>', description: 'only keys in this phase (active, grace, ...)' }, { flags: '--prefix <prefix>', description: 'only names starting so' }, ...paging],
    example: 'keyrotor keys list --phase grace',
    request: (input) => ({ method: 'GET', path: '/keys', query: { phase: text(input.options.phase), prefix: text(input.options.prefix), ...page(input) } }),
    show: (reply) => `${table([
      { header: 'name', value: (k) => k.name },
      { header: 'type', value: (k) => k.keyType },
      { header: 'phase', value: (k) => k.phase },
      { header: 'active', value: (k) => k.activeVersion },
      { header: 'risk', value: risk },
      { header: 'next rotation', value: (k) => k.nextRotationAt },
      { header: 'grace deadline', value: (k) => k.graceDeadline },
    ], reply.keys)}\n${reply.keys.length} of ${reply.total} keys`,
  }),
  command<KeyDetail>({
    words: ['keys', 'show'],
    summary: 'One key with its versions, deadlines, and whether it is held, waiting or working (GET /keys/:name)',
    args: ['<name>'],
    example: 'keyrotor keys show payments',
    request: (input) => ({ method: 'GET', path: `/keys/${encodeURIComponent(input.args[0]!)}` }),
    show: (key) => `${fields([
      ['name', key.name],
      ['type', key.keyType],
      ['phase', key.phase],
      ['active version', key.activeVersion],
      ['risk', risk(key)],
      ['next rotation', key.deadlines.nextRotationAt],
      ['grace deadline', key.deadlines.graceDeadline],
      ['grace cap', key.deadlines.graceCap],
      ['held', key.held ? `at ${key.held.step} since ${key.held.since}: ${key.held.reason} (fix it, then keyrotor keys resume ${key.name})` : null],
      ['waiting', key.waiting ? `for ${describeWaiting(key.waiting)} since ${key.waiting.since}${key.waiting.alertedAt ? ` (alerted ${key.waiting.alertedAt})` : ''}` : null],
      ['working', key.working],
    ])}\n\n${table([
      { header: 'version', value: (v) => v.version },
      { header: 'state', value: (v) => v.state },
      { header: 'kid', value: (v) => v.kid },
      { header: 'trigger', value: (v) => v.lineage.trigger },
      { header: 'activated', value: (v) => v.activatedAt },
      { header: 'grace deadline', value: (v) => v.graceDeadline },
    ], key.versions)}`,
  }),
  command<{ name: string; workflowId: string; policy: Record<string, unknown> }>({
    words: ['keys', 'create'],
    summary: 'Create a key: its workflow generates v1 on a healthy node and replicates it (POST /keys)',
    args: ['<name>'],
    options: [
      { flags: '--type <type>', description: 'ec-p256, ec-p384, rsa-2048, ...', required: true },
      { flags: '--policy <field=value...>', description: 'policy fields (gracePeriod=7d maxAge=90d riskThreshold=0.8 ...)' },
      { flags: '--reason <text>', description: 'why the key is made (audit log)' },
    ],
    example: 'keyrotor keys create payments --type ec-p256 --policy gracePeriod=7d maxAge=90d --reason "checkout signing" --wait',
    follow: followNewKey,
    request: (input) => ({
      method: 'POST',
      path: '/keys',
      body: { name: input.args[0], type: input.options.type, policy: assignments(input.options.policy as string[] | undefined), reason: text(input.options.reason) },
    }),
    show: (reply) => `creating ${reply.name} (workflow ${reply.workflowId}); \`keyrotor keys show ${reply.name}\` shows v1 once it is active\n${fields(Object.entries(reply.policy))}`,
  }),
  command<{ version: number; kid: string; fingerprint: string; previous: { version: number; state: string } | null; signingDisabledOn: string[] }>({
    words: ['keys', 'rotate'],
    summary: 'Rotate now; --emergency: the old version stops signing everywhere, is marked compromised and archived without grace (POST /keys/:name/rotate)',
    args: ['<name>'],
    options: [reason, { flags: '--emergency', description: 'the active version is compromised (asks for confirmation)' }, { flags: '--yes', description: 'confirm an emergency rotation without asking' }],
    example: 'keyrotor keys rotate payments --reason "quarterly rotation" --wait\n  $ keyrotor keys rotate payments --emergency --yes --reason "key leaked in incident 42"',
    confirm: confirmEmergency,
    follow: followKey,
    early: {
      settle: (accepted, state) => {
        const early = accepted as RotationAccepted;
        const replaced = early.previous ? (state as KeyDetail).versions.find((v) => v.version === early.previous?.version) : undefined;
        // As the synchronous answer says it: the replaced version as the new one took over (retiring, or compromised by an emergency).
        const previous = early.previous ? { version: early.previous.version, state: early.previous.state === 'compromised' ? 'compromised' : replaced?.state ?? early.previous.state } : null;
        return { version: early.version, kid: early.kid, fingerprint: early.fingerprint, previous, signingDisabledOn: early.signingDisabledOn };
      },
    },
    // A fresh Idempotency-Key per invocation: a try that may have arrived is sent again without rotating twice.
    request: (input) => ({ method: 'POST', path: `/keys/${encodeURIComponent(input.args[0]!)}/rotate`, body: { reason: input.options.reason, emergency: input.options.emergency === true }, idempotencyKey: randomUUID() }),
    show: (reply) => fields([
      ['version', reply.version],
      ['kid', reply.kid],
      ['fingerprint', reply.fingerprint],
      ['previous', reply.previous ? `v${reply.previous.version} ${reply.previous.state}` : null],
      ['signing disabled on', reply.signingDisabledOn],
    ]),
  }),
  command<{ expectedDeadline: string; cap: string | null }>({
    words: ['keys', 'grace'],
    summary: 'Extend the running grace period, up to maxGracePeriod (POST /keys/:name/grace)',
    args: ['<name>'],
    options: [{ flags: '--extend-by <duration>', description: 'how much longer (30m, 12h, 7d)', required: true }, reason],
    example: 'keyrotor keys grace payments --extend-by 2d --reason "mobile app release is late"',
    request: (input) => ({ method: 'POST', path: `/keys/${encodeURIComponent(input.args[0]!)}/grace`, body: { extendBy: input.options.extendBy, reason: input.options.reason } }),
    show: (reply) => fields([['grace deadline', reply.expectedDeadline], ['cap', reply.cap]]),
  }),
  command<{ version: number; state: string; verdictOk: boolean | null }>({
    words: ['keys', 'complete-grace'],
    summary: 'End the grace period now: the retiring version is archived and verified (POST /keys/:name/grace/complete)',
    args: ['<name>'],
    options: [reason],
    example: 'keyrotor keys complete-grace payments --reason "every client uses v2"',
    request: (input) => ({ method: 'POST', path: `/keys/${encodeURIComponent(input.args[0]!)}/grace/complete`, body: { reason: input.options.reason } }),
    show: (reply) => fields([['version', reply.version], ['state', reply.state], ['verified', reply.verdictOk]]),
  }),
  command<{ resumed: string }>({
    words: ['keys', 'resume'],
    summary: 'Resume a held key: the step it stopped at runs again; fix the cause (keys show: held) first (POST /keys/:name/resume)',
    args: ['<name>'],
    options: [reason],
    example: 'keyrotor keys resume payments --reason "hsm-2 is back"',
    request: (input) => ({ method: 'POST', path: `/keys/${encodeURIComponent(input.args[0]!)}/resume`, body: { reason: input.options.reason } }),
    show: (reply) => `resumed: ${reply.resumed}`,
  }),
  command<Record<string, unknown>>({
    words: ['keys', 'policy'],
    summary: 'Change some fields of a key\'s policy; the whole result is checked before it applies (PATCH /keys/:name/policy)',
    args: ['<name>', '<field=value...>'],
    example: 'keyrotor keys policy payments gracePeriod=3d riskThreshold=0.7 capacityLimit=null',
    request: (input) => ({ method: 'PATCH', path: `/keys/${encodeURIComponent(input.args[0]!)}/policy`, body: assignments(input.args.slice(1)) }),
    show: (policy) => fields(Object.entries(policy)),
  }),
  command<{ destroyedVersions: number[] }>({
    words: ['keys', 'delete'],
    summary: 'Decommission a key: every version is destroyed on every node (DELETE /keys/:name)',
    args: ['<name>'],
    options: [{ flags: '--confirm <name>', description: 'the key\'s name again', required: true }, reason],
    example: 'keyrotor keys delete payments --confirm payments --reason "service retired"',
    request: (input) => ({ method: 'DELETE', path: `/keys/${encodeURIComponent(input.args[0]!)}`, body: { confirm: input.options.confirm, reason: input.options.reason } }),
    show: (reply) => `decommissioned; destroyed versions: ${reply.destroyedVersions.join(', ') || 'none'}`,
  }),
  command<{ alerts: Alert[]; total: number }>({
    words: ['alerts', 'list'],
    summary: 'Alerts, newest first (GET /alerts)',
    options: [
      { flags: '--state <state>', description: 'open or acknowledged' },
      { flags: '--severity <severity>', description: 'only this severity' },
      { flags: '--source <source>', description: 'only from this source (audit, entropy, keymap, ...)' },
      ...paging,
    ],
    example: 'keyrotor alerts list --state open',
    request: (input) => ({ method: 'GET', path: '/alerts', query: { state: text(input.options.state), severity: text(input.options.severity), source: text(input.options.source), ...page(input) } }),
    show: (reply) => `${table([
      { header: 'id', value: (a) => a.id },
      { header: 'severity', value: (a) => a.severity },
      { header: 'source', value: (a) => a.source },
      { header: 'subject', value: (a) => a.subject },
      { header: 'count', value: (a) => a.count },
      { header: 'last seen', value: (a) => a.lastSeen },
      { header: 'acked by', value: (a) => a.acknowledgedBy },
      { header: 'message', value: (a) => a.message },
    ], reply.alerts)}\n${reply.alerts.length} of ${reply.total} alerts`,
  }),
  command<Alert>({
    words: ['alerts', 'ack'],
    summary: 'Acknowledge an alert (POST /alerts/:id/ack)',
    args: ['<id>'],
    example: 'keyrotor alerts ack 0b6f1c9e-3a52-4c1e-9d2f-6f1f7c1b2a10',
    request: (input) => ({ method: 'POST', path: `/alerts/${encodeURIComponent(input.args[0]!)}/ack` }),
    show: (alert) => fields([['id', alert.id], ['subject', alert.subject], ['acknowledged by', alert.acknowledgedBy], ['acknowledged at', alert.acknowledgedAt]]),
  }),
  command<{ entries: Array<{ seq: number; at: string; actor: string; action: string; subject: string; details: Record<string, unknown> }>; nextAfterSeq?: number }>({
    words: ['audit', 'list'],
    summary: 'Audit entries in sequence order, a page at a time (GET /audit)',
    options: [
      { flags: '--subject <subject>', description: 'only entries about this subject (a key name, threat-intel, ...)' },
      { flags: '--action <action>', description: 'only entries of this action (key.created, key.rotated, ...)' },
      { flags: '--after-seq <seq>', description: 'only entries after this seq (the next page)' },
      { flags: '--limit <n>', description: 'at most this many (default 100)' },
    ],
    example: 'keyrotor audit list --subject payments',
    request: (input) => ({ method: 'GET', path: '/audit', query: { subject: text(input.options.subject), action: text(input.options.action), afterSeq: text(input.options.afterSeq), limit: text(input.options.limit) } }),
    show: (reply) => `${table([
      { header: 'seq', value: (e) => e.seq },
      { header: 'at', value: (e) => e.at },
      { header: 'actor', value: (e) => e.actor },
      { header: 'action', value: (e) => e.action },
      { header: 'subject', value: (e) => e.subject },
      { header: 'reason', value: (e) => e.details.reason },
    ], reply.entries)}${reply.nextAfterSeq === undefined ? '' : `\nmore: --after-seq ${reply.nextAfterSeq}`}`,
  }),
  command<{ ok: boolean; entries: number; firstSeq: number | null; lastSeq: number | null; headHash: string; anchored: boolean; problems: Array<{ seq: number; kind: string; message: string }>; anchors: Array<{ node: string; seq: number | null; status: string; matchesLog?: boolean }> }>({
    words: ['audit', 'verify'],
    summary: 'Recompute the audit log\'s hash chain and check it against the nodes\' anchors (GET /audit/verify); exit 1 when the chain is broken',
    example: 'keyrotor audit verify',
    request: () => ({ method: 'GET', path: '/audit/verify' }),
    failed: (reply) => !reply.ok,
    show: (reply) => [
      fields([['chain', reply.ok ? 'intact' : 'BROKEN'], ['entries', reply.entries], ['seq', reply.firstSeq === null ? null : `${reply.firstSeq}..${reply.lastSeq}`], ['head hash', reply.headHash], ['anchored', reply.anchored]]),
      ...(reply.problems.length > 0 ? [table([{ header: 'seq', value: (p) => p.seq }, { header: 'kind', value: (p) => p.kind }, { header: 'problem', value: (p) => p.message }], reply.problems)] : []),
      table([{ header: 'node', value: (a) => a.node }, { header: 'anchor seq', value: (a) => a.seq }, { header: 'status', value: (a) => a.status }, { header: 'matches log', value: (a) => a.matchesLog }], reply.anchors),
    ].join('\n\n'),
  }),
  command<{ epoch: number; digest: string; total: number; keys: Array<{ name: string; phase: string; versions: MapVersion[] }> }>({
    words: ['keymap', 'show'],
    summary: 'The cluster key map: each version, its state and the nodes holding it (GET /keymap)',
    options: [
      { flags: '--key <name>', description: 'only this key' },
      { flags: '--state <state>', description: 'only versions in this state' },
      { flags: '--node <id>', description: 'only versions held on this node' },
      ...paging,
    ],
    example: 'keyrotor keymap show --key payments',
    request: (input) => ({ method: 'GET', path: '/keymap', query: { key: text(input.options.key), state: text(input.options.state), node: text(input.options.node), ...page(input) } }),
    show: (reply) => `${fields([['epoch', reply.epoch], ['digest', reply.digest], ['keys', `${reply.keys.length} of ${reply.total}`]])}\n\n${table([
      { header: 'key', value: (row) => row.key },
      { header: 'version', value: (row) => row.version.version },
      { header: 'state', value: (row) => row.version.state },
      { header: 'kid', value: (row) => row.version.kid },
      { header: 'nodes', value: (row) => Object.keys(row.version.nodes).sort() },
    ], reply.keys.flatMap((key) => key.versions.map((version) => ({ key: key.name, version }))))}`,
  }),
  command<{ runId: string; epoch: number; digest: string; nodes: SyncNode[]; problems: string[] }>({
    words: ['keymap', 'sync'],
    summary: 'Run a key map sync now and show what it found and repaired on each node (POST /keymap/sync)',
    example: 'keyrotor keymap sync --wait',
    request: () => ({ method: 'POST', path: '/keymap/sync' }),
    follow: followSync,
    show: (reply) => `${fields([['run', reply.runId], ['epoch', reply.epoch], ['digest', reply.digest], ['problems', reply.problems]])}\n\n${table([
      { header: 'node', value: (n) => n.nodeId },
      { header: 'status', value: (n) => n.status },
      { header: 'inventory', value: (n) => n.inventory },
      { header: 'drift', value: (n) => n.drift?.total },
      { header: 'reason', value: (n) => n.reason },
    ], reply.nodes)}`,
  }),
  command<{ token: string; info: TokenInfo }>({
    words: ['tokens', 'create'],
    summary: 'Create an API token; its value is shown this once (POST /tokens)',
    options: [{ flags: '--name <name>', description: 'what the token is for', required: true }, { flags: '--role <role>', description: ROLES.join(', '), required: true }],
    example: 'keyrotor tokens create --name "deploy pipeline" --role operator',
    request: (input) => ({ method: 'POST', path: '/tokens', body: { name: input.options.name, role: input.options.role } }),
    show: (reply) => `${fields([['token', reply.token], ['id', reply.info.id], ['name', reply.info.name], ['role', reply.info.role]])}\nthe token is shown only now: store it (KEYROTOR_TOKEN)`,
  }),
  command<{ tokens: TokenInfo[] }>({
    words: ['tokens', 'list'],
    summary: 'API tokens, never their values (GET /tokens)',
    example: 'keyrotor tokens list',
    request: () => ({ method: 'GET', path: '/tokens' }),
    show: (reply) => table([
      { header: 'id', value: (t) => t.id },
      { header: 'name', value: (t) => t.name },
      { header: 'role', value: (t) => t.role },
      { header: 'created', value: (t) => t.createdAt },
      { header: 'by', value: (t) => t.createdBy },
      { header: 'revoked', value: (t) => t.revokedAt },
    ], reply.tokens),
  }),
  command<TokenInfo>({
    words: ['tokens', 'revoke'],
    summary: 'Revoke an API token (DELETE /tokens/:id)',
    args: ['<id>'],
    example: 'keyrotor tokens revoke 5d0c7a3e-8f1b-4b7a-9a51-2c4f0e9d1b6a',
    request: (input) => ({ method: 'DELETE', path: `/tokens/${encodeURIComponent(input.args[0]!)}` }),
    show: (info) => fields([['id', info.id], ['name', info.name], ['role', info.role], ['revoked', info.revokedAt]]),
  }),
  command<{ keys: Array<{ kid: string; kty: string; alg: string; crv?: string; use: string }> }>({
    words: ['jwks'],
    summary: 'The published public keys, as applications fetch them (GET /.well-known/jwks.json; no token needed)',
    example: 'keyrotor jwks --json > jwks.json',
    request: () => ({ method: 'GET', path: '/.well-known/jwks.json', anonymous: true }),
    show: (reply) => table([
      { header: 'kid', value: (k) => k.kid },
      { header: 'kty', value: (k) => k.kty },
      { header: 'alg', value: (k) => k.alg },
      { header: 'crv', value: (k) => k.crv },
      { header: 'use', value: (k) => k.use },
    ], reply.keys),
  }),
];

async function run(spec: ApiCommand<unknown>, input: Input, json: boolean): Promise<void> {
  await spec.confirm?.(input);
  let reply: unknown;
  let outcome: 'done' | 'held' | undefined;
  const waits = spec.follow !== undefined && input.options.wait === true;
  const early = waits ? spec.early : undefined;
  try {
    const request = callApi({ ...spec.request(input), ...(early ? { prefer: 'respond-async' } : {}) });
    if (spec.follow && waits) {
      let state: unknown;
      [reply, outcome, state] = await followWork(spec.follow, input, request, json);
      if (early) reply = early.settle(reply, state);
    } else {
      reply = await request;
    }
  } catch (error) {
    // A script reading --json gets the problem as the API sent it; the exit code says refused or unreachable.
    if (json && (error instanceof ApiRefusedError || error instanceof ApiUnavailableError) && error.problem) process.stdout.write(`${JSON.stringify(error.problem, null, 2)}\n`);
    throw error;
  }
  process.stdout.write(`${json ? JSON.stringify(reply, null, 2) : spec.show(reply)}\n`);
  if (spec.failed?.(reply) || outcome === 'held') process.exitCode = EXIT_CODES.failed;
}

/**
 * `--wait`: polls what the API shows of the work while the request runs and after its reply, printing each change as
 * it happens (on stderr with --json, so stdout stays the reply), until the work is over.
 */
async function followWork(spec: Follow<unknown>, input: Input, request: Promise<unknown>, json: boolean): Promise<[unknown, 'done' | 'held', unknown]> {
  const say = (line: string): void => {
    (json ? process.stderr : process.stdout).write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);
  };
  let replied: { reply: unknown } | undefined;
  let failure: { error: unknown } | undefined;
  request.then((reply) => (replied = { reply }), (error: unknown) => (failure = { error }));
  let state: unknown;
  for (;;) {
    // Only a poll that starts after the reply shows the work's state after it (before the work starts, it looks idle);
    // after a refusal too: a hold that answers the request shows only in a poll that starts after that answer.
    const answered = replied;
    const refused = failure;
    let now: unknown;
    try {
      now = await callApi(spec.poll(input));
    } catch (error) {
      // What the request creates (a key) is not there until the API has recorded it.
      if (!(error instanceof ApiRefusedError && error.problem.status === 404 && !answered)) throw error;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      continue;
    }
    for (const line of spec.changes(state, now)) say(line);
    state = now;
    // A refusal (a hold answers the request with key_held) ends it: exit 3 with the problem, the steps printed above.
    if (refused) throw refused.error;
    const outcome = spec.outcome(now);
    if (answered && outcome) return [answered.reply, outcome, now];
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function registerApiCommands(program: Command): void {
  const parents = new Map<string, Command>();
  for (const spec of apiCommands) {
    const [first, second] = spec.words;
    let parent = program;
    if (second !== undefined) {
      const existing = parents.get(first);
      parent = existing ?? program.command(first).description(groups[first] ?? first).addHelpText('after', EXIT_CODES_HELP);
      parents.set(first, parent);
    }
    const sub = parent.command(second ?? first).description(spec.summary);
    for (const arg of spec.args ?? []) sub.argument(arg);
    for (const option of spec.options ?? []) {
      if (option.required) sub.requiredOption(option.flags, option.description);
      else sub.option(option.flags, option.description);
    }
    if (spec.follow) sub.option('--wait', 'follow the work as it happens, step by step, until it is over; exit 1 if it ends held');
    sub.option('--json', 'print the API\'s reply as JSON')
      .addHelpText('after', `\nExample:\n  $ ${spec.example}\n${EXIT_CODES_HELP}`)
      .action(async (...params: unknown[]) => {
        const self = params.at(-1) as Command;
        const options = self.opts<Input['options']>();
        const args = (self.processedArgs as Array<string | string[]>).flat();
        await run(spec, { args, options }, options.json === true);
      });
  }
}
