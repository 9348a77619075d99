import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccessLogParser, wallTimeToIso, type AccessLogCheckpoint, type AccessLogFormat, type ObservedUse, type ParsedAccessLog } from '../../../domain/usage/access-log';

/**
 * Recorded from a real run (test/support/spy-client.js through pkcs11-spy.so, OpenSC 0.23, against SoftHSM 2.6.1) of two
 * processes, one after the other; the token's PIN was the planted value below. Process 1: finds the EC key by CKA_ID and
 * signs 3 times (each after a C_Sign refused with CKR_BUFFER_TOO_SMALL), finds it by label and signs twice, finds an AES
 * key by label and signs twice in three parts (CMAC), is refused a SignInit, signs once and verifies twice with the
 * public key found by CKA_ID, encrypts and decrypts twice, wraps and unwraps once. Process 2: finds the private key by
 * class alone and signs twice, then reads its CKA_ID and label and signs once more.
 */
const FIXTURE = readFileSync(join(__dirname, '../../fixtures/spy-log/softhsm-two-processes.log'), 'utf8');
const PIN = 'planted-pin-4711';
const PIN_FORMS = [PIN, Buffer.from(PIN).toString('hex'), Buffer.from(PIN).toString('hex').toUpperCase(), [...Buffer.from(PIN)].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(' ')];

const keyOf = (use: ObservedUse): string => (use.key.resolved ? `id=${use.key.id ?? '-'} label=${use.key.label ?? '-'}` : `handle=${use.key.handle ?? '-'}`);
const tally = (uses: ObservedUse[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const use of uses) counts[`${use.op} ${keyOf(use)}`] = (counts[`${use.op} ${keyOf(use)}`] ?? 0) + use.count;
  return counts;
};

/** Feeds `text` in pieces of the given sizes, storing the checkpoint as text between pieces as a caller would. */
function feedInPieces(format: AccessLogFormat, text: string, sizes: () => number, seen: string[] = []): ParsedAccessLog {
  let stored: string | undefined;
  const all: ParsedAccessLog = { uses: [], problems: [] };
  for (let at = 0; at < text.length; ) {
    const size = Math.max(1, sizes());
    const parser = createAccessLogParser(format, {}, stored === undefined ? undefined : (JSON.parse(stored) as AccessLogCheckpoint));
    const parsed = parser.feed(text.slice(at, at + size));
    all.uses.push(...parsed.uses);
    all.problems.push(...parsed.problems);
    stored = JSON.stringify(parser.checkpoint());
    seen.push(stored);
    at += size;
  }
  return all;
}

/** A seeded generator of piece sizes (xorshift), so that a failure can be replayed. */
function sizesFrom(seed: number, max: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (Math.abs(state) % max) + 1;
  };
}

/** The log's records: each from its blank line to its return value, banners with the first record of their process. */
function records(text: string): string[] {
  return text.split(/\n(?=\n(?:\d+: |\n\*))/).filter((piece) => piece.trim() !== '');
}

const EXPECTED = {
  'sign id=a1b2c3 label=-': 3,
  // Found by CKA_ID, then by label (same handle, one process): from then on the uses carry both; 1 more in process 2.
  'sign id=a1b2c3 label=spy-sign': 4,
  'sign id=- label=spy-cmac': 2,
  'verify id=a1b2c3 label=-': 2,
  'encrypt id=0e0e label=-': 2,
  'decrypt id=0e0e label=-': 2,
  'wrap id=- label=spy-kek': 1,
  'unwrap id=- label=spy-kek': 1,
  'sign handle=0x2': 2,
};

describe('the PKCS#11 spy log parser on a recorded SoftHSM run', () => {
  it('counts one use per completed operation and resolves each key as the process found or read it', () => {
    const parser = createAccessLogParser('pkcs11-spy');
    const parsed = parser.feed(FIXTURE);
    expect(parsed.problems).toEqual([]);
    expect(tally(parsed.uses)).toEqual(EXPECTED);
    expect(parsed.uses.map((use) => use.ts)).toEqual([...parsed.uses.map((use) => use.ts)].sort());
    expect(parsed.uses[0]).toEqual({ ts: '2026-12-06T20:41:52.801Z', op: 'sign', count: 1, key: { resolved: true, id: 'a1b2c3', label: null }, mechanism: 'CKM_ECDSA' });
    expect(parsed.uses.filter((use) => use.mechanism === 'CKM_AES_CMAC')).toHaveLength(2);
  });

  it('gives the same uses however the text is cut into chunks and wherever the parser is restored from its checkpoint', () => {
    const whole = createAccessLogParser('pkcs11-spy').feed(FIXTURE).uses;
    for (const [seed, max] of [[1, 1], [7, 13], [42, 200], [99, 5000]] as const) {
      const pieces = feedInPieces('pkcs11-spy', FIXTURE, sizesFrom(seed, max));
      expect(pieces.problems).toEqual([]);
      expect(pieces.uses).toEqual(whole);
    }
  });

  it('never emits, reports or keeps the PIN the log holds, whole or in part, in any chunking', () => {
    expect(FIXTURE).toContain(PIN);
    const checkpoints: string[] = [];
    const outputs: string[] = [];
    for (const [seed, max] of [[3, 1], [5, 7], [11, 64]] as const) {
      const parsed = feedInPieces('pkcs11-spy', FIXTURE, sizesFrom(seed, max), checkpoints);
      outputs.push(JSON.stringify(parsed));
    }
    const everything = [...outputs, ...checkpoints].join('\n');
    for (const form of PIN_FORMS) expect(everything).not.toContain(form);
    // Nor any 6 characters of it: a chunk that ends inside the PIN's line leaves no piece of it behind.
    for (let start = 0; start + 6 <= PIN.length; start += 1) expect(checkpoints.join('\n')).not.toContain(PIN.slice(start, start + 6));
    // Nor the plaintext the log printed for C_Encrypt and C_Decrypt.
    expect(everything).not.toContain('a secret message');
  });

  it('keeps two processes apart when their records interleave in one file', () => {
    const [first, second] = FIXTURE.split(/\n(?=\n\n\*{5,})/).filter((part) => part.trim() !== '') as [string, string];
    const a = records(first);
    const b = records(second);
    // The second process starts while the first is at its tenth call, so their counts never meet.
    const merged: string[] = a.slice(0, 10);
    for (let i = 0; i < Math.max(a.length - 10, b.length); i += 1) merged.push(...[a[i + 10], b[i]].filter((record): record is string => record !== undefined));
    const parsed = createAccessLogParser('pkcs11-spy').feed(`${merged.join('\n')}\n`);
    expect(parsed.problems).toEqual([]);
    expect(tally(parsed.uses)).toEqual(tally(createAccessLogParser('pkcs11-spy').feed(FIXTURE).uses));
  });

  it('counts but does not resolve the uses of a process whose start it did not see', () => {
    const fromMiddle = FIXTURE.slice(FIXTURE.indexOf('\n\n13: C_SignInit'));
    const parsed = createAccessLogParser('pkcs11-spy').feed(fromMiddle);
    const counts = tally(parsed.uses);
    expect(Object.keys(counts).filter((key) => key.includes('id=') && !key.startsWith('sign id=a1b2c3 label=spy-sign'))).toEqual([]);
    expect(counts['sign handle=0x2']).toBe(2 + 2 + 1 + 2);
    expect(parsed.uses).toHaveLength(18);
  });

  it('counts but stops resolving when two processes are at the same call count', () => {
    const [first] = FIXTURE.split(/\n(?=\n\n\*{5,})/) as [string];
    const a = records(first);
    const twice = a.flatMap((record) => [record, record]);
    const parsed = createAccessLogParser('pkcs11-spy').feed(`${twice.join('\n')}\n`);
    expect(parsed.uses).toHaveLength(2 * 16);
    expect(parsed.uses.every((use) => !use.key.resolved)).toBe(true);
    expect(parsed.problems.some((problem) => /could belong to 2 processes/.test(problem.problem))).toBe(true);
  });

  it('presumes a process gone that stopped without C_Finalize and stayed silent, when a later one reaches its count', () => {
    const [first, second] = FIXTURE.split(/\n(?=\n\n\*{5,})/).filter((part) => part.trim() !== '') as [string, string];
    // The first process stops after call 12, its first signature (killed); the second reaches call 13 later.
    const killed = records(first).slice(0, 14).join('\n'); // the banner, then calls 0 to 12
    const later = (minutes: number): string => second.replace(/2026-12-06 20:41:(\d\d\.\d{3})/g, (_, seconds: string) => `2026-12-06 ${String(20 + Math.floor((41 + minutes) / 60)).padStart(2, '0')}:${String((41 + minutes) % 60).padStart(2, '0')}:${seconds}`);
    const expectedSecond = tally(createAccessLogParser('pkcs11-spy').feed(`${second}\n`).uses);
    expect(expectedSecond).toEqual({ 'sign handle=0x2': 2, 'sign id=a1b2c3 label=spy-sign': 1 });

    const afterSilence = createAccessLogParser('pkcs11-spy').feed(`${killed}\n${later(11)}\n`);
    expect(afterSilence.problems).toEqual([]);
    expect(tally(afterSilence.uses)).toEqual({ 'sign id=a1b2c3 label=-': 1, ...expectedSecond });

    // A minute of silence is not enough: either could be either, so from call 13 on the uses are counted unresolved
    // (the signature whose SignInit came before the collision without even its handle).
    const soon = createAccessLogParser('pkcs11-spy').feed(`${killed}\n${later(1)}\n`);
    expect(tally(soon.uses)).toEqual({ 'sign id=a1b2c3 label=-': 1, 'sign handle=0x2': 2, 'sign handle=-': 1 });
    expect(soon.problems.map((problem) => problem.problem)).toEqual(['call 13 could belong to 2 processes writing to this log; their uses are counted, unresolved']);
  });

  it('names a record cut short by another, and one cut off by the end of its file, without counting them', () => {
    const parser = createAccessLogParser('pkcs11-spy');
    const cut = FIXTURE.replace(/(\n12: C_Sign\n[^]*?)Returned: {2}0 CKR_OK\n/, '$1');
    const parsed = parser.feed(cut);
    expect(parsed.uses).toHaveLength(18);
    expect(parsed.problems).toEqual([{ line: expect.any(Number), problem: 'call 12 (C_Sign) has no return value (call 13 started); its use, if any, is not counted' }]);
    const open = createAccessLogParser('pkcs11-spy');
    open.feed(FIXTURE.slice(0, FIXTURE.indexOf('Returned', FIXTURE.indexOf('\n12: C_Sign'))));
    expect(open.restart()).toEqual([{ line: expect.any(Number), problem: 'call 12 (C_Sign) was cut off by the end of its file; its use, if any, is not counted' }]);
  });

  it('refuses a checkpoint of another format', () => {
    const ndjson = createAccessLogParser('ndjson').checkpoint();
    expect(() => createAccessLogParser('pkcs11-spy', {}, ndjson)).toThrow(/not one of a pkcs11-spy parser/);
  });

  it('reads the spy’s local times in the configured time zone', () => {
    expect(wallTimeToIso('2026-12-06 20:40:36.529', 'UTC')).toBe('2026-12-06T20:40:36.529Z');
    expect(wallTimeToIso('2026-12-06 20:40:36.529', 'Europe/Berlin')).toBe('2026-12-06T19:40:36.529Z');
    expect(wallTimeToIso('2026-07-06 20:40:36.529', 'Europe/Berlin')).toBe('2026-07-06T18:40:36.529Z');
    expect(wallTimeToIso('2026-12-06 20:40', 'UTC')).toBeNull();
    const berlin = createAccessLogParser('pkcs11-spy', { timeZone: 'Europe/Berlin' }).feed(FIXTURE);
    expect(berlin.uses[0]?.ts).toBe('2026-12-06T19:41:52.801Z');
  });
});

describe('the NDJSON access-log mapping', () => {
  const lines = [
    '{"ts":"2026-12-06T20:40:36.539Z","op":"sign","id":"A1B2C3","label":"payments","count":3,"mechanism":"CKM_ECDSA"}',
    '{"ts":"2026-12-06T21:40:36+01:00","op":"decrypt","label":"backup"}',
    '{"ts":"2026-12-06T20:40:37Z","op":"unwrap","handle":"0x2A"}',
  ];

  it('maps each line to a use, in chunks of any size', () => {
    const expected: ObservedUse[] = [
      { ts: '2026-12-06T20:40:36.539Z', op: 'sign', count: 3, key: { resolved: true, id: 'a1b2c3', label: 'payments' }, mechanism: 'CKM_ECDSA' },
      { ts: '2026-12-06T20:40:36.000Z', op: 'decrypt', count: 1, key: { resolved: true, id: null, label: 'backup' }, mechanism: null },
      { ts: '2026-12-06T20:40:37.000Z', op: 'unwrap', count: 1, key: { resolved: false, handle: '0x2a' }, mechanism: null },
    ];
    const text = `${lines.join('\n')}\n`;
    expect(createAccessLogParser('ndjson').feed(text)).toEqual({ uses: expected, problems: [] });
    expect(feedInPieces('ndjson', text, sizesFrom(5, 9))).toEqual({ uses: expected, problems: [] });
  });

  it('reports a bad line by number and field, never quoting it, and counts nothing of it', () => {
    const secret = 'hunter2-planted';
    const bad = [
      `{"ts":"2026-12-06T20:40:36Z","op":"sign","id":"a1","pin":"${secret}"}`,
      `{"ts":"yesterday","op":"${secret}","label":"x"}`,
      `not json ${secret}`,
      `{"ts":"2026-12-06T20:40:36","op":"sign","label":"${secret}\\u0007"}`,
      '{"ts":"2026-12-06T20:40:36Z","op":"sign"}',
    ];
    const parsed = createAccessLogParser('ndjson').feed(`${bad.join('\n')}\n${lines[0] as string}\n`);
    expect(parsed.uses).toHaveLength(1);
    expect(parsed.problems).toEqual([
      { line: 1, problem: 'unknown field (pin)' },
      { line: 2, problem: 'ts must be an ISO 8601 time with its zone; op must be one of sign, verify, encrypt, decrypt, wrap, unwrap' },
      { line: 3, problem: 'not a JSON object' },
      { line: 4, problem: 'ts must be an ISO 8601 time with its zone; label must be text (1–256 characters, no control characters)' },
      { line: 5, problem: 'give id, label or handle' },
    ]);
    expect(JSON.stringify(parsed.problems)).not.toContain(secret);
  });
});
