import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../adapters/postgres/token-repository';
import { projectRoot } from '../../scripts/tool-paths';
import type { RunningSystem } from '../../workers/system';
import { startTestSystem, tokenFor } from '../support/system';

type Who = 'anyone' | readonly Role[];
const READERS: Who = ['auditor', 'operator', 'admin'];
const TOKEN_HOLDERS: Who = ['encrypter', 'decrypter', 'auditor', 'operator', 'admin'];
const OPERATORS: Who = ['operator', 'admin'];
const AUDITORS: Who = ['auditor', 'admin'];
const ADMINS: Who = ['admin'];
const DATA_KEY_MAKERS: Who = ['encrypter', 'admin'];
const REWRAPPERS: Who = ['encrypter', 'operator', 'admin'];
const UNWRAPPERS: Who = ['decrypter', 'admin'];

/**
 * Who may do what: the specification, also in the README (API, "Who may do what"). Every operation of the OpenAPI
 * document is here; a route added without a row fails this test.
 */
const WHO_MAY: ReadonlyArray<[operation: string, who: Who]> = [
  ['GET /health', 'anyone'],
  ['GET /metrics', 'anyone'],
  ['GET /.well-known/jwks.json', 'anyone'],
  ['GET /keys/{name}/public', 'anyone'],
  ['GET /whoami', TOKEN_HOLDERS],
  ['GET /info', READERS],
  ['GET /keys', READERS],
  ['GET /keys/{name}', READERS],
  ['GET /keys/{name}/usage', READERS],
  ['GET /keys/{name}/risk', READERS],
  ['GET /risk-trends', READERS],
  ['GET /models', READERS],
  ['GET /entropy', READERS],
  ['GET /entropy/history', READERS],
  ['GET /keymap', READERS],
  ['GET /keymap/nodes', READERS],
  ['GET /alerts', READERS],
  ['GET /subscriptions', READERS],
  ['POST /keys', OPERATORS],
  ['PATCH /keys/{name}/policy', OPERATORS],
  ['DELETE /keys/{name}', OPERATORS],
  ['POST /keys/{name}/rotate', OPERATORS],
  ['POST /keys/{name}/grace', OPERATORS],
  ['POST /keys/{name}/grace/complete', OPERATORS],
  ['POST /keys/{name}/evaluate', OPERATORS],
  ['POST /keys/{name}/resume', OPERATORS],
  ['POST /keys/{name}/min-decryption-version', OPERATORS],
  ['POST /models/retrain', OPERATORS],
  ['POST /keymap/sync', OPERATORS],
  ['POST /alerts/{id}/ack', OPERATORS],
  ['POST /subscriptions', OPERATORS],
  ['DELETE /subscriptions/{id}', OPERATORS],
  ['POST /usage', OPERATORS],
  ['POST /threat-intel', OPERATORS],
  ['DELETE /threat-intel/{id}', OPERATORS],
  ['GET /audit', AUDITORS],
  ['GET /audit/verify', AUDITORS],
  ['GET /threat-intel', AUDITORS],
  ['POST /keys/{name}/datakey', DATA_KEY_MAKERS],
  ['POST /keys/{name}/rewrap', REWRAPPERS],
  ['POST /keys/{name}/unwrap', UNWRAPPERS],
  ['POST /tokens', ADMINS],
  ['GET /tokens', ADMINS],
  ['DELETE /tokens/{id}', ADMINS],
];

const CALLERS = ['no token', 'bad token', 'encrypter', 'decrypter', 'auditor', 'operator', 'admin'] as const;
type Caller = (typeof CALLERS)[number];

/** What `caller` gets: ✓ (past authentication and authorisation: the route's own answer), 401 or 403. */
function expected(who: Who, caller: Caller): '✓' | '401' | '403' {
  if (who === 'anyone') return '✓';
  if (caller === 'no token' || caller === 'bad token') return '401';
  return who.includes(caller) ? '✓' : '403';
}

/** The README's rendering of the table. */
const row = ([operation, who]: (typeof WHO_MAY)[number]): string => `| \`${operation}\` | ${CALLERS.map((caller) => expected(who, caller)).join(' | ')} |`;

describe('who may do what', () => {
  let system: RunningSystem;
  const tokens = new Map<Caller, string | undefined>();

  beforeAll(async () => {
    system = await startTestSystem();
    tokens.set('no token', undefined);
    tokens.set('bad token', `kr_${randomBytes(32).toString('base64url')}`);
    for (const role of ['encrypter', 'decrypter', 'auditor', 'operator', 'admin'] as const) tokens.set(role, await tokenFor(system, role));
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('has a row for every operation of the OpenAPI document, and the README carries the same table', async () => {
    const doc = (await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    expect(WHO_MAY.map(([operation]) => operation).sort()).toEqual(documented.sort());

    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    const lines = readme.slice(readme.indexOf('### Who may do what')).split('\n');
    const start = lines.findIndex((line) => line.startsWith('|'));
    const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
    expect(lines.slice(start + 2, end)).toEqual(WHO_MAY.map(row));
  });

  it('answers every operation for every caller as the table says: 401 without a valid token, 403 for a role it does not name', async () => {
    const outcomes: string[] = [];
    const mismatches: string[] = [];
    for (const [operation, who] of WHO_MAY) {
      const [method, template] = operation.split(' ') as [string, string];
      // Resources that do not exist and bodies the route refuses: an authorised caller gets the route's own 4xx, and
      // nothing changes; the refusal of an unauthorised one comes first, whatever the input.
      const url = template.replace('{name}', 'auth-matrix-no-such-key').replace('{id}', template.startsWith('/threat-intel') ? 'no-such-indicator' : randomUUID());
      for (const caller of CALLERS) {
        const token = tokens.get(caller);
        const reply = await system.app.inject({
          method: method as 'GET',
          url,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
          ...(method === 'GET' || url.startsWith('/keymap/sync') || url.startsWith('/models/retrain') || url.endsWith('/evaluate') ? {} : { payload: '{}' }),
        });
        const got = reply.statusCode === 401 || reply.statusCode === 403 ? String(reply.statusCode) : '✓';
        outcomes.push(`${operation} ${caller}: ${reply.statusCode}`);
        if (got !== expected(who, caller)) mismatches.push(`${operation} as ${caller}: ${reply.statusCode} (${reply.body.slice(0, 120)}), the table says ${expected(who, caller)}`);
        if (got !== '✓') expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect(mismatches).toEqual([]);
    expect(outcomes).toHaveLength(WHO_MAY.length * CALLERS.length);
  });
});
