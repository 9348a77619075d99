import type { KeyVersion } from '../../../dashboard/src/model/api-types';
import { timelinePosition, timelineSpan, versionLane } from '../../../dashboard/src/model/timeline';

const version = (extra: Partial<KeyVersion>): KeyVersion => ({
  version: 1,
  kid: 'k.v1.00000000',
  fingerprint: '00',
  state: 'active',
  generatedOn: 'hsm-1',
  createdAt: '2026-03-01T10:00:00Z',
  lineage: { trigger: 'create' },
  ...extra,
});
const ms = (iso: string): number => Date.parse(iso);

describe('a version on the timeline', () => {
  it('is generated, then active, then retiring until now, with its grace deadline ahead', () => {
    const lane = versionLane(version({ state: 'retiring', activatedAt: '2026-03-01T10:00:05Z', retiringAt: '2026-03-02T10:00:00Z', graceDeadline: '2026-03-03T10:00:00Z' }));
    expect(lane.segments.map((s) => [s.state, s.fromMs, s.toMs])).toEqual([
      ['generated', ms('2026-03-01T10:00:00Z'), ms('2026-03-01T10:00:05Z')],
      ['active', ms('2026-03-01T10:00:05Z'), ms('2026-03-02T10:00:00Z')],
      ['retiring', ms('2026-03-02T10:00:00Z'), null],
    ]);
    expect(lane.marks).toEqual([{ label: 'grace ends', atMs: ms('2026-03-03T10:00:00Z'), source: 'GET /keys/:name versions[1].graceDeadline' }]);
  });

  it('ends at its purge', () => {
    const lane = versionLane(version({ state: 'purged', activatedAt: '2026-03-01T10:00:05Z', retiringAt: '2026-03-02T10:00:00Z', archivedAt: '2026-03-03T10:00:00Z', purgedAt: '2026-03-04T10:00:00Z', purgeAfter: '2026-03-04T10:00:00Z' }));
    expect(lane.segments.at(-1)).toMatchObject({ state: 'archived', toMs: ms('2026-03-04T10:00:00Z') });
    expect(lane.purgedAtMs).toBe(ms('2026-03-04T10:00:00Z'));
    expect(lane.marks).toEqual([]);
  });

  it('turns compromised at the moment it was marked', () => {
    const lane = versionLane(version({ state: 'archived', activatedAt: '2026-03-01T10:00:05Z', compromisedAt: '2026-03-01T12:00:00Z', archivedAt: '2026-03-01T12:00:02Z' }));
    expect(lane.segments.map((s) => [s.state, s.toMs])).toEqual([
      ['generated', ms('2026-03-01T10:00:05Z')],
      ['active', ms('2026-03-01T12:00:00Z')],
      ['compromised', ms('2026-03-01T12:00:02Z')],
      ['archived', null],
    ]);
  });
});

describe('the timeline scale', () => {
  const now = ms('2026-03-02T00:00:00Z');
  const span = { fromMs: ms('2026-03-01T00:00:00Z'), toMs: ms('2026-03-02T02:00:00Z') };

  it('gives the past three quarters of the track and the deadlines ahead the rest', () => {
    expect(timelinePosition(span, now, span.fromMs)).toBe(0);
    expect(timelinePosition(span, now, ms('2026-03-01T12:00:00Z'))).toBeCloseTo(37.5);
    expect(timelinePosition(span, now, now)).toBeCloseTo(75);
    expect(timelinePosition(span, now, ms('2026-03-02T01:00:00Z'))).toBeCloseTo(87.5);
    expect(timelinePosition(span, now, span.toMs)).toBeCloseTo(100);
  });

  it('uses the whole track for the past when nothing lies ahead', () => {
    expect(timelinePosition({ fromMs: span.fromMs, toMs: now }, now, ms('2026-03-01T12:00:00Z'))).toBeCloseTo(50);
  });

  it('spans from the first birth to the last deadline', () => {
    const lanes = [versionLane(version({ state: 'retiring', activatedAt: '2026-03-01T10:00:05Z', retiringAt: '2026-03-01T11:00:00Z', graceDeadline: '2026-03-05T00:00:00Z' }))];
    expect(timelineSpan(lanes, now)).toEqual({ fromMs: ms('2026-03-01T10:00:00Z'), toMs: ms('2026-03-05T00:00:00Z') });
  });
});
