import type { Optional } from '../api';
import { h, notAvailable, replaceChildren, section, traced } from '../dom';
import type { Alert, AlertList, EntropyReport, Health, KeymapNodes } from '../model/api-types';
import { formatNumber, formatRelative, formatTime, shortDigest } from '../model/format';
import { SCHEDULE_LABELS, countByPhase, nextRotations, scheduleEvents } from '../model/schedule';
import { allKeys, errorMessage, ready, type View } from '../view';

function nodeCard(id: string, health: Health['nodes'][number] | undefined, entropy: EntropyReport | undefined, keymap: Optional<KeymapNodes>): HTMLElement {
  const status = health?.status ?? 'down';
  const syncState = keymap.available ? keymap.data.nodes.find((node) => node.id === id) : undefined;
  const pool = entropy?.snapshot;
  return h(
    'article',
    { class: `node-card ${status}`, 'data-node': id, 'data-status': status },
    h('header', null, h('h3', null, id), traced(status, 'GET /health nodes[].status', `badge ${status}`)),
    health?.reason ? h('p', { class: 'reason' }, traced(health.reason, 'GET /health nodes[].reason')) : null,
    h(
      'dl',
      null,
      h('dt', null, 'entropy pool'),
      h(
        'dd',
        null,
        pool
          ? [
              traced(`${formatNumber(pool.creditedBits)} bits`, 'GET /entropy nodes[].snapshot.creditedBits'),
              ' / min ',
              traced(formatNumber(pool.minimumCreditedBits), 'GET /entropy nodes[].snapshot.minimumCreditedBits'),
              h('meter', { min: 0, max: Math.max(pool.minimumCreditedBits * 2, pool.creditedBits), low: pool.minimumCreditedBits, optimum: pool.minimumCreditedBits * 2, value: pool.creditedBits }),
            ]
          : 'no harvest report yet',
      ),
      h('dt', null, 'sources'),
      h(
        'dd',
        { class: 'sources' },
        entropy ? entropy.sources.map((source) => traced(`${source.name}: ${source.state}`, 'GET /entropy nodes[].sources[].state', `chip ${source.state}`)) : '—',
      ),
      h('dt', null, 'key map'),
      h(
        'dd',
        null,
        !keymap.available
          ? 'not available'
          : syncState
            ? [
                'epoch ',
                traced(formatNumber(syncState.acknowledged?.epoch ?? null), 'GET /keymap/nodes nodes[].acknowledged.epoch'),
                ' · ',
                traced(shortDigest(syncState.acknowledged?.digest ?? null), 'GET /keymap/nodes nodes[].acknowledged.digest', 'value mono'),
                ' · drift ',
                traced(formatNumber(syncState.drift?.total ?? 0), 'GET /keymap/nodes nodes[].drift.total', (syncState.drift?.total ?? 0) > 0 ? 'value warn' : 'value'),
                syncState.stale ? traced(' stale', 'GET /keymap/nodes nodes[].stale', 'value warn') : null,
                syncState.snapshot?.status === 'tampered' ? traced(' tampered', 'GET /keymap/nodes nodes[].snapshot.status', 'value bad') : null,
              ]
            : 'not synchronised yet',
      ),
    ),
  );
}

function alertRow(alert: Alert, nowMs: number): HTMLElement {
  return h(
    'li',
    { class: `alert-line ${alert.severity}` },
    traced(alert.severity, 'GET /alerts alerts[].severity', `badge ${alert.severity}`),
    ' ',
    traced(alert.subject, 'GET /alerts alerts[].subject', 'value mono'),
    ' — ',
    traced(alert.message, 'GET /alerts alerts[].message'),
    ' ',
    traced(formatRelative(alert.lastSeen, nowMs), 'GET /alerts alerts[].lastSeen', 'value muted'),
  );
}

export const overviewView: View = async (root, ctx) => {
  const nodesPanel = h('div', { class: 'node-grid' }, h('p', { class: 'loading' }, 'asking every node…'));
  const clusterLine = h('p', { class: 'cluster-line' });
  const phasesPanel = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  const rotationsPanel = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  const alertsPanel = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  replaceChildren(
    root,
    h('h1', null, 'Overview'),
    section('HSM nodes', { id: 'nodes' }, clusterLine, nodesPanel),
    h(
      'div',
      { class: 'columns' },
      section('Keys by phase', { id: 'phases' }, phasesPanel),
      section('Next rotations', { id: 'next-rotations' }, rotationsPanel),
    ),
    section('Open alerts', { id: 'open-alerts' }, alertsPanel),
  );

  const nodes = (async () => {
    const [health, entropy, keymap] = await Promise.all([
      ctx.api.get<Health>('/health'),
      ctx.api.get<{ nodes: EntropyReport[] }>('/entropy'),
      ctx.api.optional<KeymapNodes>('/keymap/nodes'),
    ]);
    const up = health.nodes.filter((node) => node.status === 'up').length;
    replaceChildren(
      clusterLine,
      'cluster ',
      traced(health.status, 'GET /health status', `badge ${health.status === 'ok' ? 'up' : 'down'}`),
      ` · ${up} of ${health.nodes.length} nodes up · Temporal `,
      traced(health.components.temporal.status, 'GET /health components.temporal.status', `badge ${health.components.temporal.status}`),
      ' · PostgreSQL ',
      traced(health.components.postgres.status, 'GET /health components.postgres.status', `badge ${health.components.postgres.status}`),
      keymap.available ? [' · key map epoch ', traced(formatNumber(keymap.data.epoch), 'GET /keymap/nodes epoch'), ' ', traced(shortDigest(keymap.data.digest), 'GET /keymap/nodes digest', 'value mono')] : null,
      ` · checked ${formatTime(health.checkedAt)}`,
    );
    const ids = [...new Set([...ctx.info.nodes, ...health.nodes.map((node) => node.id)])];
    replaceChildren(nodesPanel, ids.map((id) => nodeCard(id, health.nodes.find((node) => node.id === id), entropy.nodes.find((report) => report.nodeId === id), keymap)));
    if (!keymap.available) nodesPanel.after(notAvailable('key map sync', keymap.endpoint));
  })().catch((error: unknown) => replaceChildren(nodesPanel, h('p', { class: 'error' }, errorMessage(error))));

  const keys = (async () => {
    const list = await allKeys(ctx.api);
    const phases = countByPhase(list);
    replaceChildren(
      phasesPanel,
      phases.length === 0
        ? h('p', null, 'no keys yet')
        : h('ul', { class: 'phase-list' }, phases.map(({ phase, count }) => h('li', null, h('a', { href: `#/keys?phase=${encodeURIComponent(phase)}` }, traced(phase, 'GET /keys keys[].phase', `badge phase-${phase}`)), ' ', traced(formatNumber(count), 'count of GET /keys keys[] by phase')))),
    );
    const upcoming = nextRotations(scheduleEvents(list), ctx.nowMs(), 8);
    replaceChildren(
      rotationsPanel,
      upcoming.length === 0
        ? h('p', null, 'no rotation scheduled')
        : h('ol', { class: 'upcoming' }, upcoming.map((event) => h('li', null, h('a', { href: `#/keys/${encodeURIComponent(event.key)}` }, event.key), ' ', traced(formatRelative(event.at, ctx.nowMs()), event.source), ` (${SCHEDULE_LABELS[event.kind]}, ${formatTime(event.at)})`))),
      h('p', null, h('a', { href: '#/schedule' }, 'the whole schedule →')),
    );
  })().catch((error: unknown) => {
    replaceChildren(phasesPanel, h('p', { class: 'error' }, errorMessage(error)));
    replaceChildren(rotationsPanel, '');
  });

  const alerts = (async () => {
    const open = await ctx.api.get<AlertList>('/alerts?state=open&limit=5');
    replaceChildren(
      alertsPanel,
      open.total === 0 ? h('p', null, 'no open alerts') : h('ul', { class: 'alert-lines' }, open.alerts.map((alert) => alertRow(alert, ctx.nowMs()))),
      open.total > open.alerts.length ? h('p', null, h('a', { href: '#/alerts' }, `all ${open.total} open alerts →`)) : null,
    );
  })().catch((error: unknown) => replaceChildren(alertsPanel, h('p', { class: 'error' }, errorMessage(error))));

  await Promise.all([nodes, keys, alerts]);
  ready(root);
};
