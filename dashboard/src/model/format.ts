// How values are written on screen. Times are shown in UTC, the zone of the audit log and the API.

const pad = (n: number): string => String(n).padStart(2, '0');

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
}

export function formatDay(ms: number): string {
  const date = new Date(ms);
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** "in 3 h", "5 min ago": how far a time is from now, in the largest unit that fits. */
export function formatRelative(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '';
  const delta = Date.parse(iso) - nowMs;
  if (Number.isNaN(delta)) return '';
  const abs = Math.abs(delta);
  const units: Array<[number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
  const [size, unit] = units.find(([ms]) => abs >= ms) ?? [1000, 's'];
  const amount = Math.round(abs / size);
  return delta >= 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return `${(value * 100).toFixed(digits)} %`;
}

/** The first characters of a digest, enough to tell two apart on screen. */
export function shortDigest(digest: string | null | undefined): string {
  return digest ? digest.slice(0, 12) : '—';
}
