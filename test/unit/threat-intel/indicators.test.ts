import { SEVERITY_LEVELS, indicatorsOf, validateIndicatorBatch } from '../../../domain/threat-intel/indicators';

const good = { id: 'cve-2026-0001', severity: 0.7, scope: 'key', target: 'payments', expiresAt: '2026-07-01T00:00:00Z', source: 'vendor-x' };

describe('threat indicator validation', () => {
  it('takes a severity as a number or a named level, and keeps the level it was given as', () => {
    const { indicators, problems } = validateIndicatorBatch([
      good,
      { ...good, id: 'app-leak', severity: 'high', scope: 'app', target: 'checkout', expiresAt: '2026-07-01T02:00:00+02:00' },
      { id: 'sector-wide', severity: 'critical', scope: 'all', expiresAt: '2026-07-01T00:00:00.5Z', source: 'isac' },
      { id: 'null-target', severity: 0, scope: 'all', target: null, expiresAt: '2026-07-01T00:00Z', source: 'isac' },
    ]);
    expect(problems).toEqual([]);
    expect(indicators).toEqual([
      { id: 'cve-2026-0001', severity: 0.7, severityLevel: null, scope: 'key', target: 'payments', expiresAt: '2026-07-01T00:00:00.000Z', source: 'vendor-x' },
      { id: 'app-leak', severity: SEVERITY_LEVELS.high, severityLevel: 'high', scope: 'app', target: 'checkout', expiresAt: '2026-07-01T00:00:00.000Z', source: 'vendor-x' },
      { id: 'sector-wide', severity: 1, severityLevel: 'critical', scope: 'all', target: null, expiresAt: '2026-07-01T00:00:00.500Z', source: 'isac' },
      { id: 'null-target', severity: 0, severityLevel: null, scope: 'all', target: null, expiresAt: '2026-07-01T00:00:00.000Z', source: 'isac' },
    ]);
  });

  it('maps the named levels in order, the highest to a full severity', () => {
    expect(SEVERITY_LEVELS.low).toBeLessThan(SEVERITY_LEVELS.medium);
    expect(SEVERITY_LEVELS.medium).toBeLessThan(SEVERITY_LEVELS.high);
    expect(SEVERITY_LEVELS.high).toBeLessThan(SEVERITY_LEVELS.critical);
    expect(SEVERITY_LEVELS.critical).toBe(1);
  });

  it('names every bad row with every reason and keeps nothing of the batch', () => {
    const { indicators, problems } = validateIndicatorBatch([
      good,
      { ...good, id: 'a/b', severity: 1.5, colour: 'red' },
      { ...good, id: 'no-target', scope: 'key', target: undefined, expiresAt: '2026-07-01T00:00:00' },
      { ...good, id: 'all-with-target', scope: 'all', target: 'payments', severity: 'severe' },
      { ...good, id: 'app-empty', scope: 'app', target: '', source: '' },
      { ...good, scope: 'tenant', expiresAt: '2026-02-30T00:00:00Z' },
      'not an object',
    ]);
    expect(indicators).toEqual([]);
    expect(problems).toEqual([
      { row: 1, problems: ["unknown field 'colour'", 'id must be 1–200 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit', 'severity must be a number from 0 to 1 or one of low, medium, high, critical'] },
      { row: 2, problems: ['scope key needs a target that is a key name', 'expiresAt must be an ISO 8601 time with its zone (for example 2026-07-01T00:00:00Z)'] },
      { row: 3, problems: ['severity must be a number from 0 to 1 or one of low, medium, high, critical', 'scope all applies to every key: give no target'] },
      { row: 4, problems: ['scope app needs a target that is an application (1–200 characters)', 'source must be a non-empty string (up to 200 characters)'] },
      { row: 5, problems: ["id 'cve-2026-0001' appears twice in the batch", 'scope must be one of key, app, all', 'expiresAt must be an ISO 8601 time with its zone (for example 2026-07-01T00:00:00Z)'] },
      { row: 6, problems: ['must be an object'] },
    ]);
  });

  it('refuses what is not a batch, an empty one and one too large', () => {
    expect(validateIndicatorBatch({ id: 'x' }).problems).toEqual([{ row: -1, problems: ['the body must be an array of indicators (or {"indicators": [...]})'] }]);
    expect(validateIndicatorBatch([]).problems).toEqual([{ row: -1, problems: ['a batch holds 1 to 10000 indicators, not 0'] }]);
    const many = Array.from({ length: 10_001 }, (_, i) => ({ ...good, id: `i-${i}` }));
    expect(validateIndicatorBatch(many).problems).toEqual([{ row: -1, problems: ['a batch holds 1 to 10000 indicators, not 10001'] }]);
    expect(validateIndicatorBatch(many.slice(1)).indicators).toHaveLength(10_000);
  });

  it('reads a feed document as an array or as {indicators: [...]}', () => {
    expect(indicatorsOf([good])).toEqual([good]);
    expect(indicatorsOf({ indicators: [good], generatedAt: '2026-06-01T00:00:00Z' })).toEqual([good]);
    expect(validateIndicatorBatch(indicatorsOf({ data: [good] })).problems[0]?.row).toBe(-1);
  });
});
