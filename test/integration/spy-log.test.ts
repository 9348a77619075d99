import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readLogFrom, type LogPosition, type TailEvent } from '../../adapters/usage/log-tailer';
import type { ObservedUse } from '../../domain/usage/access-log';
import { requireEnv, softHsmModule, uniqueName } from '../support/system';

const run = promisify(execFile);
const SPY_CANDIDATES = ['/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so', '/usr/lib/pkcs11/pkcs11-spy.so'];
const CLIENT = join(__dirname, '../support/spy-client.js');

function spyModule(): string {
  const found = SPY_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('OpenSC’s pkcs11-spy.so is not installed: apt-get install opensc-pkcs11 (the bootstrap installs it)');
  return found;
}

/**
 * A SoftHSM token of this file's own, used by separate processes (test/support/spy-client.js) through pkcs11-spy.so as
 * an application would, so that the spy writes real logs; the tailer then reads them as keyrotor will.
 */
describe('tailing a PKCS#11 spy log written by real processes against SoftHSM', () => {
  const dir = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('spy-log-'));
  // 16 characters: the spy dumps 16 bytes a line, so the whole PIN stands on one line of the log.
  const pin = `planted-${randomBytes(4).toString('hex')}`;
  const tokenLabel = uniqueName('spy-');
  const keyId = randomBytes(4).toString('hex');
  const keyLabel = uniqueName('spy-key-');
  let env: NodeJS.ProcessEnv = {};

  /** Runs the client in a process of its own; through the spy when `log` is given. */
  async function client(steps: unknown[], log?: string): Promise<void> {
    const module = log ? spyModule() : softHsmModule();
    await run(process.execPath, [CLIENT, JSON.stringify({ module, tokenLabel, pin, steps })], { env: log ? { ...env, PKCS11SPY: softHsmModule(), PKCS11SPY_OUTPUT: log } : env });
  }
  const signs = (count: number, find: Record<string, string> = { id: keyId }): unknown[] => [{ op: 'sign', find, count }];

  /** Reads to the end as a restarted keyrotor would: from the position stored as text, a new parser each call. */
  async function tail(log: string, stored: { position: string | null; texts: string[] }): Promise<{ uses: ObservedUse[]; events: TailEvent[] }> {
    const uses: ObservedUse[] = [];
    const events: TailEvent[] = [];
    for (;;) {
      const result = await readLogFrom(log, 'pkcs11-spy', stored.position === null ? null : (JSON.parse(stored.position) as LogPosition), { maxBytes: 16 * 1024 });
      uses.push(...result.uses);
      events.push(...result.events);
      stored.position = JSON.stringify(result.position);
      stored.texts.push(stored.position, JSON.stringify(result.uses), JSON.stringify(result.problems));
      if (!result.more) return { uses, events };
    }
  }

  const pinForms = (): string[] => [pin, Buffer.from(pin).toString('hex'), [...Buffer.from(pin)].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(' ')];

  beforeAll(async () => {
    mkdirSync(join(dir, 'tokens'), { recursive: true });
    writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    env = { ...process.env, SOFTHSM2_CONF: join(dir, 'softhsm2.conf') };
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', tokenLabel, '--so-pin', randomBytes(6).toString('hex'), '--pin', pin], { env, stdio: 'pipe' });
    await client([{ op: 'make-ec', id: keyId, label: keyLabel }]);
  });

  it('counts N signatures as N sign uses of the key the process found by CKA_ID or label, and the PIN is nowhere in what it gives', async () => {
    const log = join(dir, 'resolve.log');
    await client([...signs(20), ...signs(7, { label: keyLabel })], log);
    expect(readFileSync(log, 'utf8')).toContain(pin);
    const stored = { position: null, texts: [] as string[] };
    const { uses } = await tail(log, stored);
    const byKey = (use: ObservedUse): string => (use.key.resolved ? `${use.key.id ?? '-'}/${use.key.label ?? '-'}` : 'unresolved');
    const counts: Record<string, number> = {};
    for (const use of uses) counts[`${use.op} ${byKey(use)}`] = (counts[`${use.op} ${byKey(use)}`] ?? 0) + use.count;
    // Found by CKA_ID first; the later find by label named the same handle, so those uses carry both.
    expect(counts).toEqual({ [`sign ${keyId}/-`]: 20, [`sign ${keyId}/${keyLabel}`]: 7 });
    const everything = stored.texts.join('\n');
    for (const form of pinForms()) expect(everything).not.toContain(form);
  });

  it('loses and double-counts nothing across restarts, a rotation, a truncation and a partial last line', async () => {
    const log = join(dir, 'app.log');
    const stored = { position: null as string | null, texts: [] as string[] };
    const counted: ObservedUse[] = [];
    const events: TailEvent[] = [];
    const take = async (): Promise<void> => {
      const result = await tail(log, stored);
      counted.push(...result.uses);
      events.push(...result.events);
    };

    await client(signs(5), log);
    await take();
    expect(counted).toHaveLength(5);

    // Read while the application signs: the tailer meets records and lines still being written.
    let finished = false;
    const signing = client(signs(40), log).finally(() => {
      finished = true;
    });
    while (!finished) await take();
    await signing;
    await take();
    expect(counted).toHaveLength(45);

    // Rotation before the tailer read the end: the old file is finished where it moved, then the new one is read.
    await client(signs(4), log);
    renameSync(log, `${log}.1`);
    await client(signs(3), log);
    await take();
    expect(events).toEqual([{ kind: 'rotated', finishedFrom: `${log}.1` }]);
    expect(counted).toHaveLength(52);

    // Truncation as logrotate's copytruncate does it, before the tailer read the last signatures: the copy is finished.
    // The next process writes more than was there, so only the first bytes tell the file started over.
    await client(signs(6), log);
    const sizeBefore = readFileSync(log).length;
    copyFileSync(log, `${log}.copy`);
    truncateSync(log, 0);
    await client(signs(20), log);
    expect(readFileSync(log).length).toBeGreaterThan(sizeBefore);
    await take();
    expect(events.slice(1)).toEqual([{ kind: 'truncated', finishedFrom: `${log}.copy` }]);
    expect(counted).toHaveLength(78);

    // A truncation with no copy: what was written after the position is gone, and the file is read from its start.
    truncateSync(log, 0);
    await client(signs(3), log);
    await take();
    expect(events.slice(2)).toEqual([{ kind: 'truncated', finishedFrom: null }]);
    expect(counted).toHaveLength(81);

    // A partial last line: another process's log arrives in two pieces cut inside a line.
    const other = join(dir, 'other.log');
    await client(signs(2), other);
    const bytes = readFileSync(other);
    const cut = bytes.indexOf('Returned', bytes.lastIndexOf('C_Sign\n')) + 4;
    appendFileSync(log, bytes.subarray(0, cut));
    await take();
    appendFileSync(log, bytes.subarray(cut));
    await take();
    expect(counted).toHaveLength(83);

    expect(counted.every((use) => use.op === 'sign' && use.key.resolved && use.key.id === keyId)).toBe(true);
    const everything = stored.texts.join('\n');
    for (const form of pinForms()) expect(everything).not.toContain(form);
  });
});
