import { sparkline } from '../charts';
import { h, replaceChildren, traced } from '../dom';
import { choices, pagedTable, showPages } from '../paged-list';
import type { KeyList, KeyListItem, RiskTrendsReply } from '../model/api-types';
import { formatNumber, formatRelative, formatTime } from '../model/format';
import { trendSeries } from '../model/series';
import { errorMessage, ready, type View, type ViewContext } from '../view';

/** At most the 100 names GET /risk-trends takes, so that one request brings the trends of a whole page. */
const PAGE_SIZE = 50;
const PHASES = ['creating', 'active', 'rotating', 'grace', 'decommissioning', 'decommissioned'];
/** Risk scores per row's trend: a day of evaluations at the default interval. */
const TREND_POINTS = 24;

function timeCell(iso: string | null | undefined, source: string, nowMs: number): HTMLTableCellElement {
  return h('td', { class: 'time' }, iso ? [traced(formatTime(iso), source), h('small', null, formatRelative(iso, nowMs))] : '—');
}

function row(key: KeyListItem, nowMs: number): HTMLTableRowElement {
  const prediction = key.prediction;
  return h(
    'tr',
    { 'data-key': key.name },
    h('td', null, h('a', { href: `#/keys/${encodeURIComponent(key.name)}` }, traced(key.name, 'GET /keys keys[].name', 'value mono'))),
    h('td', { class: 'optional' }, traced(key.keyType, 'GET /keys keys[].keyType')),
    h('td', null, traced(key.phase, 'GET /keys keys[].phase', `badge phase-${key.phase}`)),
    h('td', { class: 'num' }, traced(key.activeVersion === null ? '—' : `v${key.activeVersion}`, 'GET /keys keys[].activeVersion')),
    h(
      'td',
      { class: 'risk' },
      prediction && prediction.riskScore !== null
        ? traced(formatNumber(prediction.riskScore, 2), 'GET /keys keys[].prediction.riskScore', prediction.riskScore >= prediction.riskThreshold ? 'value bad' : 'value')
        : traced('—', 'GET /keys keys[].prediction.riskScore'),
      h('span', { class: 'trend' }),
    ),
    timeCell(prediction?.predictedRotationAt, 'GET /keys keys[].prediction.predictedRotationAt', nowMs),
    timeCell(key.nextRotationAt, 'GET /keys keys[].nextRotationAt', nowMs),
    timeCell(key.graceDeadline, 'GET /keys keys[].graceDeadline', nowMs),
  );
}

/**
 * Fills every row's trend from one GET /risk-trends for all the rows of the page. Without it (an error, a route this
 * deployment lacks) the rows keep an empty trend cell: the table is already on screen and stays as it is.
 */
async function fillTrends(rows: HTMLTableRowElement[], ctx: ViewContext, alive: () => boolean): Promise<'done' | 'failed'> {
  if (rows.length === 0) return 'done';
  const query = new URLSearchParams({ keys: rows.map((tr) => tr.dataset.key as string).join(','), points: String(TREND_POINTS) });
  let reply: RiskTrendsReply;
  try {
    reply = await ctx.api.get<RiskTrendsReply>(`/risk-trends?${query}`);
  } catch {
    return 'failed';
  }
  if (!alive()) return 'done';
  const byKey = new Map(reply.trends.map((trend) => [trend.key, trend.points]));
  for (const tr of rows) {
    const points = byKey.get(tr.dataset.key as string);
    const cell = tr.querySelector<HTMLElement>('.trend');
    // One evaluation is a point, not a trend.
    if (!cell || !points || points.length < 2) continue;
    const [xs, scores] = trendSeries(points);
    const line = sparkline(scores, xs, '#7c3aed', 'GET /risk-trends trends[].points[].score');
    cell.replaceChildren(line.element);
    ctx.onLeave(line.destroy);
  }
  return 'done';
}

export const keysView: View = async (root, ctx) => {
  const phase = ctx.query.get('phase') ?? '';
  const prefix = ctx.query.get('prefix') ?? '';
  const page = Math.max(1, Number(ctx.query.get('page') ?? '1') || 1);
  let left = false;
  ctx.onLeave(() => {
    left = true;
  });

  const go = (next: { phase?: string; prefix?: string; page?: number }): void => {
    const query = new URLSearchParams();
    const values = { phase, prefix, page: 1, ...next };
    if (values.phase) query.set('phase', values.phase);
    if (values.prefix) query.set('prefix', values.prefix);
    if (values.page > 1) query.set('page', String(values.page));
    ctx.navigate(`#/keys${query.size ? `?${query}` : ''}`);
  };

  let debounce: number | undefined;
  const prefixInput = h('input', {
    type: 'search',
    name: 'prefix',
    placeholder: 'name starts with…',
    value: prefix,
    autocomplete: 'off',
    spellcheck: 'false',
    onInput: (event: Event) => {
      clearTimeout(debounce);
      const value = (event.target as HTMLInputElement).value.trim().toLowerCase();
      debounce = window.setTimeout(() => go({ prefix: value }), 250);
    },
  });
  const phaseSelect = h(
    'select',
    { name: 'phase', onChange: (event: Event) => go({ phase: (event.target as HTMLSelectElement).value }) },
    h('option', { value: '' }, 'every phase'),
    choices(PHASES, phase),
  );
  const { status, table, body, pager } = pagedTable('keys-table', [
    'name', h('th', { class: 'optional' }, 'type'), 'phase', 'active', 'risk', 'predicted rotation', 'rotation by age', 'grace deadline',
  ]);
  replaceChildren(
    root,
    h('h1', null, 'Keys'),
    h('form', { class: 'filters', onSubmit: (event: Event) => event.preventDefault() }, h('label', null, 'Phase ', phaseSelect), h('label', null, 'Name ', prefixInput)),
    status,
    table,
    pager,
  );
  if (document.activeElement === document.body && prefix) {
    // Typing re-renders the view: keep the caret where the user was typing.
    prefixInput.focus();
    prefixInput.setSelectionRange(prefix.length, prefix.length);
  }

  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((page - 1) * PAGE_SIZE) });
  if (phase) query.set('phase', phase);
  if (prefix) query.set('prefix', prefix);
  let list: KeyList;
  try {
    list = await ctx.api.get<KeyList>(`/keys?${query}`);
  } catch (error) {
    replaceChildren(status, h('span', { class: 'error' }, errorMessage(error)));
    ready(root);
    return;
  }
  const nowMs = ctx.nowMs();
  const rows = list.keys.map((key) => row(key, nowMs));
  replaceChildren(body, rows);
  const first = list.total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = (page - 1) * PAGE_SIZE + list.keys.length;
  replaceChildren(status, list.total === 0 ? 'no key matches' : [`${first}–${last} of `, traced(formatNumber(list.total), 'GET /keys total'), ' keys']);
  showPages(pager, page, list.total, PAGE_SIZE, (to) => go({ page: to }));
  ready(root);
  // The table is on screen first; the trends follow with one request for the whole page.
  const trends = await fillTrends(rows, ctx, () => !left);
  if (!left) root.dataset.trends = trends;
};
