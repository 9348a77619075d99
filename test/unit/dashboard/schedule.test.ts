import type { KeyListItem } from '../../../dashboard/src/model/api-types';
import { countByPhase, dailyCounts, nextRotations, scheduleEvents } from '../../../dashboard/src/model/schedule';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const key = (name: string, extra: Partial<KeyListItem> = {}): KeyListItem => ({ name, keyType: 'ec-p256', phase: 'active', activeVersion: 1, nextRotationAt: null, createdAt: '2026-01-01T00:00:00Z', ...extra });
const prediction = (predictedRotationAt: string | null) => ({ riskScore: 0.4, riskThreshold: 0.7, predictedRotationAt, predictedTrigger: 'risk' as const, nextEvaluationAt: null, evaluatedAt: null, reason: null });

describe('the schedule of every key', () => {
  const keys = [
    key('b', { nextRotationAt: '2026-03-05T00:00:00Z', prediction: prediction('2026-03-03T00:00:00Z') }),
    key('a', { phase: 'grace', nextRotationAt: '2026-04-01T00:00:00Z', graceDeadline: '2026-03-01T14:00:00Z', nextPurgeAt: '2026-03-02T00:00:00Z' }),
    key('gone', { phase: 'decommissioned', nextRotationAt: '2026-03-02T00:00:00Z' }),
    key('late', { nextRotationAt: '2026-02-27T00:00:00Z' }),
  ];

  it('lists each deadline with the field it comes from, in time order, leaving decommissioned keys out', () => {
    const events = scheduleEvents(keys);
    expect(events.map((e) => [e.key, e.kind])).toEqual([
      ['late', 'age-rotation'],
      ['a', 'grace-end'],
      ['a', 'purge'],
      ['b', 'predicted-rotation'],
      ['b', 'age-rotation'],
      ['a', 'age-rotation'],
    ]);
    expect(events.find((e) => e.kind === 'predicted-rotation')).toMatchObject({ source: 'GET /keys keys[].prediction.predictedRotationAt', detail: 'trigger: risk' });
    expect(events.find((e) => e.kind === 'grace-end')?.source).toBe('GET /keys keys[].graceDeadline');
  });

  it('takes each key\'s next rotation still ahead, predicted or by age', () => {
    expect(nextRotations(scheduleEvents(keys), NOW, 5).map((e) => [e.key, e.kind])).toEqual([['b', 'predicted-rotation'], ['a', 'age-rotation']]);
    expect(nextRotations(scheduleEvents(keys), NOW, 1)).toHaveLength(1);
  });

  it('counts events per UTC day and kind from today on', () => {
    const counts = dailyCounts(scheduleEvents(keys), NOW, 5);
    expect(counts.days[0]).toBe(Date.parse('2026-03-01T00:00:00Z') / 1000);
    expect(counts.counts['grace-end']).toEqual([1, 0, 0, 0, 0]);
    expect(counts.counts.purge).toEqual([0, 1, 0, 0, 0]);
    expect(counts.counts['predicted-rotation']).toEqual([0, 0, 1, 0, 0]);
    expect(counts.counts['age-rotation']).toEqual([0, 0, 0, 0, 1]);
  });

  it('counts keys by phase in lifecycle order', () => {
    expect(countByPhase(keys)).toEqual([{ phase: 'active', count: 2 }, { phase: 'grace', count: 1 }, { phase: 'decommissioned', count: 1 }]);
  });
});
