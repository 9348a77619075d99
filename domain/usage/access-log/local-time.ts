const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

/** Minutes the zone is ahead of UTC at `utcMs`. */
function zoneOffsetMinutes(utcMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(utcMs));
  const part = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((candidate) => candidate.type === type)?.value);
  const asUtc = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/**
 * A local wall time (`2026-12-06 20:40:36.529`) in `timeZone` as an ISO 8601 UTC time, or null when it is not one. In
 * the hour a zone repeats when its clocks go back, the earlier of the two readings is taken.
 */
export function wallTimeToIso(wallTime: string, timeZone: string): string | null {
  const match = WALL_TIME.exec(wallTime);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = Number((match[7] ?? '0').padEnd(3, '0'));
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (Number.isNaN(asUtc)) return null;
  if (timeZone === 'UTC') return new Date(asUtc).toISOString();
  // The offset at the guess may differ from the offset at the answer near a change of clocks: look twice.
  const first = asUtc - zoneOffsetMinutes(asUtc, timeZone) * 60_000;
  const second_ = asUtc - zoneOffsetMinutes(first, timeZone) * 60_000;
  return new Date(Math.min(first, second_)).toISOString();
}

/** Whether `timeZone` is a zone this runtime knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}
