import { COLORS, timeChart } from '../charts';
import { h, replaceChildren, section, traced } from '../dom';
import { formatDay, formatNumber, formatRelative, formatTime } from '../model/format';
import { SCHEDULE_KINDS, SCHEDULE_LABELS, dailyCounts, scheduleEvents, type ScheduleKind } from '../model/schedule';
import { allKeys, ready, type View } from '../view';

const KIND_COLORS: Record<ScheduleKind, string> = {
  'predicted-rotation': COLORS.forecast,
  'age-rotation': COLORS.actual,
  'grace-end': '#d97706',
  purge: COLORS.muted,
};
const HORIZONS = [7, 30, 90];
const LIST_LIMIT = 300;

export const scheduleView: View = async (root, ctx) => {
  const days = HORIZONS.includes(Number(ctx.query.get('days'))) ? Number(ctx.query.get('days')) : 30;
  const body = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  replaceChildren(
    root,
    h('h1', null, 'Schedule'),
    h('nav', { class: 'horizons' }, 'next ', HORIZONS.map((d) => h('a', { href: `#/schedule?days=${d}`, class: d === days ? 'current' : '' }, `${d} days`))),
    body,
  );
  const nowMs = ctx.nowMs();
  const keys = await allKeys(ctx.api);
  const all = scheduleEvents(keys);
  const untilMs = nowMs + days * 86_400_000;
  const overdue = all.filter((event) => event.atMs < nowMs);
  const upcoming = all.filter((event) => event.atMs >= nowMs && event.atMs < untilMs);
  const counts = dailyCounts(upcoming, nowMs, days);
  // Stacked bars: each series is drawn as the running total, widest first; the legend shows each kind's own count.
  const stacked: number[][] = [];
  SCHEDULE_KINDS.forEach((kind, i) => stacked.push(counts.counts[kind].map((count, d) => count + (stacked[i - 1]?.[d] ?? 0))));
  const order = [...SCHEDULE_KINDS.keys()].reverse();
  const chart = timeChart({
    title: `Events per day, next ${days} days`,
    source: 'GET /keys keys[].prediction.predictedRotationAt, .nextRotationAt, .graceDeadline, .nextPurgeAt',
    data: [counts.days, ...order.map((i) => stacked[i] as number[])],
    series: order.map((i) => {
      const kind = SCHEDULE_KINDS[i] as ScheduleKind;
      return { label: SCHEDULE_LABELS[kind], color: KIND_COLORS[kind], bars: true, legendValue: (index: number) => String(counts.counts[kind][index] ?? 0) };
    }),
    yLabel: 'events',
    height: 200,
  });
  ctx.onLeave(chart.destroy);

  const byDay = new Map<string, typeof upcoming>();
  for (const event of upcoming.slice(0, LIST_LIMIT)) {
    const day = formatDay(event.atMs);
    byDay.set(day, [...(byDay.get(day) ?? []), event]);
  }
  const line = (event: (typeof all)[number]): HTMLElement =>
    h(
      'li',
      { 'data-kind': event.kind, 'data-key': event.key },
      h('span', { class: `chip kind-${event.kind}` }, SCHEDULE_LABELS[event.kind]),
      ' ',
      h('a', { href: `#/keys/${encodeURIComponent(event.key)}` }, event.key),
      ' ',
      traced(formatTime(event.at), event.source),
      h('small', null, ` ${formatRelative(event.at, nowMs)}${event.detail ? ` · ${event.detail}` : ''}`),
    );
  replaceChildren(
    body,
    h('p', null, traced(formatNumber(upcoming.length), 'events from GET /keys'), ` events in the next ${days} days across `, traced(formatNumber(keys.length), 'GET /keys total'), ' keys'),
    section('Timeline', { id: 'schedule-chart' }, chart.element),
    overdue.length > 0 ? section('Past due', { id: 'overdue', class: 'panel warning' }, h('ul', { class: 'events' }, overdue.slice(-50).map(line))) : null,
    section(
      'Coming up',
      { id: 'upcoming' },
      upcoming.length === 0 ? h('p', null, 'nothing scheduled in this window') : null,
      [...byDay].map(([day, events]) => h('div', { class: 'day' }, h('h3', null, day), h('ul', { class: 'events' }, events.map(line)))),
      upcoming.length > LIST_LIMIT ? h('p', null, `and ${upcoming.length - LIST_LIMIT} more; choose a shorter window`) : null,
    ),
  );
  ready(root);
};
