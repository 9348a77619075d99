import { ApiError } from '../api';
import { h, replaceChildren, traced } from '../dom';
import { choices, pagedTable, showPages } from '../paged-list';
import type { Alert, AlertList } from '../model/api-types';
import { formatNumber, formatRelative, formatTime } from '../model/format';
import { errorMessage, ready, type View, type ViewContext } from '../view';

const PAGE_SIZE = 50;
/** How often the list asks for new alerts while it is shown. */
export const ALERT_POLL_MS = 5000;

function alertRow(alert: Alert, ctx: ViewContext, fresh: boolean, onAck: (alert: Alert, button: HTMLButtonElement) => void): HTMLTableRowElement {
  const field = (name: string): string => `GET /alerts alerts[].${name}`;
  const open = alert.acknowledgedAt === null;
  const nowMs = ctx.nowMs();
  const ack: HTMLButtonElement | null = open && ctx.me.mayAct ? h('button', { type: 'button', 'data-action': 'acknowledge' }, 'Acknowledge') : null;
  ack?.addEventListener('click', () => onAck(alert, ack));
  return h(
    'tr',
    { 'data-alert': alert.id, class: `${alert.severity}${fresh ? ' fresh' : ''}`, 'data-state': open ? 'open' : 'acknowledged' },
    h('td', null, traced(alert.severity, field('severity'), `badge ${alert.severity}`)),
    h('td', null, traced(alert.subject, field('subject'), 'value mono'), h('br'), h('small', null, traced(alert.source, field('source')))),
    h('td', { class: 'message' }, traced(alert.message, field('message'))),
    h('td', { class: 'num' }, traced(formatNumber(alert.count), field('count'))),
    h('td', { class: 'time' }, traced(formatTime(alert.firstSeen), field('firstSeen')), h('small', null, `last ${formatRelative(alert.lastSeen, nowMs)}`)),
    h('td', null, open ? ack ?? traced('open', field('acknowledgedAt'), 'badge warning') : [traced(alert.acknowledgedBy, field('acknowledgedBy')), h('small', null, formatTime(alert.acknowledgedAt))]),
  );
}

export const alertsView: View = async (root, ctx) => {
  const state = ctx.query.get('state') ?? 'open';
  const severity = ctx.query.get('severity') ?? '';
  const page = Math.max(1, Number(ctx.query.get('page') ?? '1') || 1);
  const go = (next: { state?: string; severity?: string; page?: number }): void => {
    const query = new URLSearchParams();
    const values = { state, severity, page: 1, ...next };
    query.set('state', values.state);
    if (values.severity) query.set('severity', values.severity);
    if (values.page > 1) query.set('page', String(values.page));
    ctx.navigate(`#/alerts?${query}`);
  };
  const { status, table, body, pager } = pagedTable('alerts-table', ['severity', 'subject', 'message', 'count', 'seen', 'acknowledged']);
  replaceChildren(
    root,
    h('h1', null, 'Alerts'),
    h(
      'form',
      { class: 'filters', onSubmit: (event: Event) => event.preventDefault() },
      h('label', null, 'State ', h('select', { name: 'state', onChange: (e: Event) => go({ state: (e.target as HTMLSelectElement).value }) }, choices(['open', 'acknowledged', 'all'], state))),
      h('label', null, 'Severity ', h('select', { name: 'severity', onChange: (e: Event) => go({ severity: (e.target as HTMLSelectElement).value }) }, h('option', { value: '' }, 'any'), choices(['critical', 'warning', 'info'], severity))),
    ),
    status,
    table,
    pager,
  );

  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((page - 1) * PAGE_SIZE) });
  if (state !== 'all') query.set('state', state);
  if (severity) query.set('severity', severity);
  const known = new Set<string>();
  let first = true;
  let stopped = false;
  let timer: number | undefined;
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });

  const acknowledge = (alert: Alert, button: HTMLButtonElement): void => {
    button.disabled = true;
    button.textContent = 'acknowledging…';
    ctx.api.post<Alert>(`/alerts/${alert.id}/ack`, {}).then(
      () => {
        ctx.toast(`acknowledged: ${alert.subject}`);
        ctx.refreshAlertBadge();
        void refresh();
      },
      (error: unknown) => {
        button.disabled = false;
        button.textContent = 'Acknowledge';
        ctx.toast(error instanceof ApiError ? `refused (${error.status} ${error.code}): ${error.message}` : errorMessage(error), 'error');
      },
    );
  };

  // Polls the same GET /alerts a script would; an alert not seen before is marked new.
  const refresh = async (): Promise<void> => {
    clearTimeout(timer);
    try {
      const list = await ctx.api.get<AlertList>(`/alerts?${query}`);
      if (stopped) return;
      replaceChildren(body, list.alerts.map((alert) => alertRow(alert, ctx, !first && !known.has(alert.id), acknowledge)));
      for (const alert of list.alerts) known.add(alert.id);
      const from = list.total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
      replaceChildren(status, list.total === 0 ? `no ${state === 'all' ? '' : `${state} `}alerts` : [`${from}–${from + list.alerts.length - 1} of `, traced(formatNumber(list.total), 'GET /alerts total'), ` · refreshed ${formatTime(new Date(ctx.nowMs()).toISOString())}`]);
      showPages(pager, page, list.total, PAGE_SIZE, (to) => go({ page: to }));
      first = false;
    } catch (error) {
      if (!stopped) replaceChildren(status, h('span', { class: 'error' }, errorMessage(error)));
    }
    if (!stopped) timer = window.setTimeout(() => void refresh(), ALERT_POLL_MS);
  };
  await refresh();
  ready(root);
};
