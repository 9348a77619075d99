import type { KeyVersion } from './api-types';

export type SegmentState = 'generated' | 'active' | 'retiring' | 'archived' | 'compromised';

export interface Segment {
  state: SegmentState;
  fromMs: number;
  /** null: still in this state now. */
  toMs: number | null;
  /** The API field the segment starts at. */
  source: string;
}

export interface VersionLane {
  version: number;
  state: string;
  segments: Segment[];
  /** Deadlines still ahead of the version, drawn as marks. */
  marks: Array<{ label: string; atMs: number; source: string }>;
  purgedAtMs: number | null;
}

const at = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
};

/**
 * A version's life as consecutive segments: generated (until activated), active, retiring (the grace period),
 * archived (until purged); a compromised version shows the moment it was marked. Built only from the version's own
 * timestamps, so every edge is a field of GET /keys/:name.
 */
export function versionLane(version: KeyVersion): VersionLane {
  const field = (name: string): string => `GET /keys/:name versions[${version.version}].${name}`;
  const steps: Array<{ state: SegmentState; atMs: number | null; source: string }> = [
    { state: 'generated', atMs: at(version.createdAt), source: field('createdAt') },
    { state: 'active', atMs: at(version.activatedAt), source: field('activatedAt') },
    { state: 'retiring', atMs: at(version.retiringAt), source: field('retiringAt') },
    { state: 'archived', atMs: at(version.archivedAt), source: field('archivedAt') },
  ];
  const present = steps.filter((step): step is { state: SegmentState; atMs: number; source: string } => step.atMs !== null).sort((a, b) => a.atMs - b.atMs);
  const purgedAtMs = at(version.purgedAt);
  const segments: Segment[] = present.map((step, index) => ({
    state: step.state,
    fromMs: step.atMs,
    toMs: present[index + 1]?.atMs ?? purgedAtMs,
    source: step.source,
  }));
  const compromisedAtMs = at(version.compromisedAt);
  if (compromisedAtMs !== null) {
    // The compromised mark cuts whatever segment it falls in: from then on the version is compromised.
    const cut = segments.findIndex((segment) => segment.fromMs <= compromisedAtMs && (segment.toMs === null || segment.toMs > compromisedAtMs));
    if (cut >= 0) {
      const segment = segments[cut] as Segment;
      segments.splice(cut, 1, { ...segment, toMs: compromisedAtMs }, { state: 'compromised', fromMs: compromisedAtMs, toMs: segment.toMs, source: field('compromisedAt') });
    }
  }
  const marks: VersionLane['marks'] = [];
  if (version.state === 'retiring' && version.graceDeadline) marks.push({ label: 'grace ends', atMs: at(version.graceDeadline) as number, source: field('graceDeadline') });
  if (version.state === 'archived' && version.purgeAfter) marks.push({ label: 'purge', atMs: at(version.purgeAfter) as number, source: field('purgeAfter') });
  return { version: version.version, state: version.state, segments, marks: marks.filter((mark) => !Number.isNaN(mark.atMs)), purgedAtMs };
}

/** The time span a timeline of these lanes must cover: from the first version's birth to now or the last deadline. */
export function timelineSpan(lanes: readonly VersionLane[], nowMs: number): { fromMs: number; toMs: number } {
  const starts = lanes.flatMap((lane) => lane.segments.map((segment) => segment.fromMs));
  const ends = lanes.flatMap((lane) => [...lane.marks.map((mark) => mark.atMs), ...(lane.purgedAtMs !== null ? [lane.purgedAtMs] : [])]);
  const fromMs = starts.length > 0 ? Math.min(...starts) : nowMs;
  const toMs = Math.max(nowMs, ...ends);
  // A zero-width span (one version born this instant) still needs room to draw.
  return { fromMs, toMs: toMs > fromMs ? toMs : fromMs + 60_000 };
}

/** Share of the track given to the past; the rest shows the deadlines ahead. */
export const PAST_SHARE = 0.75;

/**
 * Where a time falls on the track, 0–100 %: the past (first birth to now) fills the first 75 % and the future (now to the
 * last deadline) the rest, each linearly, so a grace period of hours does not squeeze a rotation of seconds ago to a
 * pixel, nor the other way round. With nothing ahead the past fills the whole track.
 */
export function timelinePosition(span: { fromMs: number; toMs: number }, nowMs: number, ms: number): number {
  const pastEnd = Math.max(nowMs, span.fromMs);
  const hasFuture = span.toMs > pastEnd;
  const pastShare = hasFuture ? PAST_SHARE : 1;
  if (ms <= pastEnd) {
    const width = pastEnd - span.fromMs;
    return width > 0 ? (Math.max(0, ms - span.fromMs) / width) * pastShare * 100 : 0;
  }
  if (!hasFuture) return 100;
  return (pastShare + (Math.min(1, (ms - pastEnd) / (span.toMs - pastEnd)) * (1 - pastShare))) * 100;
}
