import { outputShape, readQuickStart, seenAsRecorded } from '../../support/quick-start';

/** Two runs of the same emergency rotation, as `--wait` printed them: other times, kids, hashes, another poll rhythm. */
const recorded = `15:57:05  v1 retiring
15:57:05  v2 active
15:57:06  working: emergency rotation (emergency)
15:57:06  v2 active → compromised
15:57:08  v3 pending
15:57:09  v3 pending → active
15:57:09  working: archive v2
15:57:11  v2 compromised → archived
15:57:11  working: risk evaluation
15:57:12  done: risk evaluation
version:             3
kid:                 invoices.v3.2c16e4c3
fingerprint:         2c16e4c31c8b8f24c141974c6cc5e139f87167f12b21fc2ed9d0418b2cb24596
previous:            v2 compromised
signing disabled on: hsm-1,hsm-2,hsm-3`.split('\n');

const rerun = `17:29:43  v1 retiring
17:29:43  v2 active
17:29:44  working: emergency rotation (emergency)
17:29:46  v2 active → compromised
17:29:47  v3 pending
17:29:50  v2 compromised → archived
17:29:50  v3 pending → active
17:29:52  done: verify v2
version:             3
kid:                 invoices.v3.d01703a9
fingerprint:         d01703a9c0e2a4d8e47f21de1573f6314a410636ee6952c1423bbc9ec238e9ea
previous:            v2 compromised
signing disabled on: hsm-1,hsm-2,hsm-3
`.split('\n');

describe('the quick-start output shape', () => {
  it('is the same for two runs that differ only in times, kids, hashes and which short steps a poll saw', () => {
    expect(outputShape(rerun)).toEqual(outputShape(recorded));
    expect(outputShape(recorded).slice(0, 3)).toEqual(['progress: v1 retiring', 'progress: v2 active → compromised → archived', 'progress: v3 pending → active']);
  });

  it('takes a version whose short states a poll missed as recorded, but not states out of order, new or ending elsewhere', () => {
    const shape = outputShape(recorded);
    const missedPending = outputShape(rerun.map((line) => line.replace(/.*v3 pending$/, '').replace('v3 pending → active', 'v3 active')).filter((line) => line !== ''));
    expect(missedPending).toContain('progress: v3 active');
    expect(seenAsRecorded(shape, missedPending)).toEqual(shape);
    expect(seenAsRecorded(shape, ['progress: v2 active → archived'])).toEqual(['progress: v2 active → compromised → archived']);
    for (const drifted of ['progress: v2 compromised → active', 'progress: v2 active → retiring → archived', 'progress: v2 active → compromised', 'progress: v4 active']) {
      expect(seenAsRecorded(shape, [drifted])).toEqual([drifted]);
    }
  });

  it.each([
    ['a version state', (line: string) => line.replace('v2 compromised → archived', 'v2 compromised → destroyed')],
    ['a version that never gets active', (line: string) => line.replace(/.*v3 pending → active$/, '')],
    ['a field label', (line: string) => line.replace('previous:', 'replaced:')],
    ['a field value', (line: string) => line.replace('hsm-1,hsm-2,hsm-3', 'hsm-1')],
    ['the version number in a kid', (line: string) => line.replace('invoices.v3.', 'invoices.v4.')],
  ])('differs when %s differs', (_what, drift) => {
    const drifted = rerun.map(drift).filter((line, index) => line !== '' || rerun[index] === '');
    expect(drifted).not.toEqual(rerun);
    expect(outputShape(drifted)).not.toEqual(outputShape(recorded));
  });

  it('normalises audit seq numbers, dates and ids, and table column widths, but not the rest of a row', () => {
    const list = (seq: number, actor: string) => [
      `SEQ  AT                        ACTOR${' '.repeat(actor.length - 5)}  ACTION`,
      `${seq}${' '.repeat(5 - String(seq).length)}2026-12-06T15:57:06.369Z  ${actor}  key.version.compromised`,
    ];
    expect(outputShape(list(27, 'token:first admin (09a8d724-5d8d-4743-a896-664a76cad9b0)'))).toEqual(outputShape(list(119, 'token:first admin (86abfb44-5c14-4025-be59-84c31f0e9279)')));
    expect(outputShape(list(27, 'token:first admin (09a8d724-5d8d-4743-a896-664a76cad9b0)'))).not.toEqual(outputShape(list(27, 'token:operator (09a8d724-5d8d-4743-a896-664a76cad9b0)')));
    expect(outputShape(['entries:   35', 'seq:       1..35', 'hsm-1  35          valid   true'])).toEqual(['entries: <seq>', 'seq: <seq>..<seq>', 'hsm-1 <seq> valid true']);
    expect(outputShape(['hsm-1  35          mismatch   false'])).not.toEqual(outputShape(['hsm-1  35          valid   true']));
  });

  it('reads the commands, their recorded output and the setup lines of the quick-start section only', () => {
    const readme = [
      '# keyrotor', '```', '$ not this one', '```',
      '## Quick start: try it', 'Text.', '```sh', 'export KEYROTOR_TOKEN=kr_…   # the token', '```',
      '```', '$ npx keyrotor keys create k --wait', '12:00:00  v1 pending', 'name: k', '$ JWT=$(npx tsx examples/sign-jwt.ts k 1)', '$ npx tsx examples/verify-jwt.ts "$JWT"', 'valid', '```',
      '## Architecture', '```', '$ nor this one', '```',
    ].join('\n');
    expect(readQuickStart(readme)).toEqual({
      setup: ['export KEYROTOR_TOKEN=kr_…   # the token'],
      steps: [
        { command: 'npx keyrotor keys create k --wait', recorded: ['12:00:00  v1 pending', 'name: k'] },
        { command: 'JWT=$(npx tsx examples/sign-jwt.ts k 1)', recorded: [] },
        { command: 'npx tsx examples/verify-jwt.ts "$JWT"', recorded: ['valid'] },
      ],
    });
    expect(() => readQuickStart(readme.replace('```sh\nexport', '```sh\ncurl http://x\nexport'))).toThrow(/neither a command/);
  });
});
