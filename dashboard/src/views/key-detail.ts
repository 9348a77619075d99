import type { Optional } from '../api';
import { COLORS, limitSeries, timeChart } from '../charts';
import { openActionDialog } from '../dialog';
import { type Child, h, notAvailable, replaceChildren, section, traced } from '../dom';
import type { KeyDetail, KeyVersion, RiskReply, UsageReply } from '../model/api-types';
import { formatNumber, formatPercent, formatRelative, formatTime } from '../model/format';
import { riskSeries, usageSeries } from '../model/series';
import { timelinePosition, timelineSpan, versionLane, type VersionLane } from '../model/timeline';
import { errorMessage, ready, type View, type ViewContext } from '../view';

const USAGE_HOURS = 168;

function temporalLink(ctx: ViewContext, workflowId: string): HTMLElement {
  const base = ctx.info.temporal.webUiUrl;
  if (!base) return traced('Temporal Web UI address not configured (KEYROTOR_TEMPORAL_UI_URL)', 'GET /info temporal.webUiUrl', 'value muted');
  const href = `${base}/namespaces/${encodeURIComponent(ctx.info.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'temporal-link', title: 'GET /info temporal.webUiUrl + GET /keys/:name workflowId' }, `workflow ${workflowId} in the Temporal Web UI ↗`);
}

/** Places an element along the track; CSSOM, not a style attribute, so the page's style-src 'self' allows it. */
function place<T extends HTMLElement>(element: T, leftPct: number, widthPct?: number): T {
  const clamp = (value: number): string => `${Math.max(0, Math.min(100, value)).toFixed(3)}%`;
  element.style.left = clamp(leftPct);
  if (widthPct !== undefined) element.style.width = clamp(Math.max(widthPct, 0.4));
  return element;
}

function timeline(lanes: VersionLane[], nowMs: number): HTMLElement {
  const span = timelineSpan(lanes, nowMs);
  const position = (ms: number): number => timelinePosition(span, nowMs, ms);
  const when = (ms: number): string => formatTime(new Date(ms).toISOString());
  return h(
    'div',
    { class: 'timeline', 'data-testid': 'version-timeline' },
    lanes.map((lane) =>
      h(
        'div',
        { class: 'lane', 'data-version': lane.version, 'data-state': lane.state },
        h('span', { class: 'lane-label' }, `v${lane.version} `, traced(lane.state, `GET /keys/:name versions[${lane.version}].state`, `badge state-${lane.state}`)),
        h(
          'div',
          { class: 'track' },
          lane.segments.map((segment) => {
            const left = position(segment.fromMs);
            const label = `${segment.state} from ${when(segment.fromMs)}${segment.toMs !== null ? ` to ${when(segment.toMs)}` : ' until now'}`;
            return place(h('span', { class: `segment seg-${segment.state}`, title: `${label} (${segment.source})` }, segment.state), left, position(segment.toMs ?? nowMs) - left);
          }),
          lane.marks.map((mark) => place(h('span', { class: `mark${position(mark.atMs) > 85 ? ' end' : ''}`, title: `${mark.label}: ${when(mark.atMs)} (${mark.source})` }, mark.label), position(mark.atMs))),
          lane.purgedAtMs !== null ? place(h('span', { class: 'mark purged', title: `purged ${when(lane.purgedAtMs)}` }, 'purged'), position(lane.purgedAtMs)) : null,
          place(h('span', { class: 'now', title: `now, ${when(nowMs)}` }), position(nowMs)),
        ),
      ),
    ),
    h('div', { class: 'axis' }, h('span', null, when(span.fromMs)), h('span', null, `now ${when(nowMs)}`), h('span', null, span.toMs > nowMs ? when(span.toMs) : '')),
  );
}

function provenance(version: KeyVersion): HTMLElement | string {
  const p = version.entropyProvenance;
  const field = (name: string): string => `GET /keys/:name versions[${version.version}].entropyProvenance.${name}`;
  if (!p) return '—';
  return h(
    'span',
    { class: 'provenance' },
    traced(p.mode ?? 'pool', field('mode')),
    ' · ',
    traced(`${formatNumber(p.creditedBits)} bits credited`, field('creditedBits')),
    p.drbg ? [' · ', traced(`${formatNumber(p.drbg.reseeds)} reseeds`, field('drbg.reseeds'))] : null,
    p.sources ? [' · ', p.sources.map((source) => traced(`${source.name} ${source.state}${source.minEntropy !== null ? ` (${source.minEntropy.toFixed(2)} b/sample)` : ''}`, field('sources[]'), `chip ${source.state}`))] : null,
    p.battery ? [' · SP 800-22 ', traced(`${p.battery.passed} passed, ${p.battery.failed.length} failed`, field('battery'))] : null,
  );
}

/** Encryption keys: what a version may do on every node now. */
function mayUse(v: KeyVersion, field: (v: KeyVersion, name: string) => string): HTMLElement | string {
  if (v.mayEncrypt === undefined || v.mayDecrypt === undefined) return '—';
  if (v.mayEncrypt) return traced('encrypts', field(v, 'mayEncrypt'), 'badge up');
  return v.mayDecrypt ? traced('decrypt-only', field(v, 'mayDecrypt'), 'badge warning') : traced('no use', field(v, 'mayDecrypt'), 'badge down');
}

function versionTable(versions: KeyVersion[]): HTMLElement {
  const field = (v: KeyVersion, name: string): string => `GET /keys/:name versions[${v.version}].${name}`;
  const encryption = versions.some((v) => v.mayDecrypt !== undefined);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'versions-table' },
      // Kid, node and creation time give way at phone width; lineage and provenance stay.
      h('thead', null, h('tr', null, ['version', 'state', ...(encryption ? ['may'] : []), 'kid', 'generated on', 'created', 'lineage', 'entropy provenance', 'verdict'].map((label) => h('th', { class: ['kid', 'generated on', 'created'].includes(label) ? 'optional' : null }, label)))),
      h(
        'tbody',
        null,
        [...versions].reverse().map((v) =>
          h(
            'tr',
            { 'data-version': v.version },
            h('td', null, traced(`v${v.version}`, field(v, 'version'))),
            h('td', null, traced(v.state, field(v, 'state'), `badge state-${v.state}`)),
            encryption ? h('td', { class: 'may' }, mayUse(v, field)) : null,
            h('td', { class: 'optional' }, traced(v.kid, field(v, 'kid'), 'value mono')),
            h('td', { class: 'optional' }, traced(v.generatedOn, field(v, 'generatedOn'))),
            h('td', { class: 'time optional' }, traced(formatTime(v.createdAt), field(v, 'createdAt'))),
            h(
              'td',
              { class: 'lineage' },
              traced(v.lineage.trigger ?? '—', field(v, 'lineage.trigger'), `badge trigger-${v.lineage.trigger ?? 'none'}`),
              v.lineage.previousVersion ? [' after ', traced(`v${v.lineage.previousVersion}`, field(v, 'lineage.previousVersion'))] : null,
              v.lineage.reason ? [h('br'), traced(`“${v.lineage.reason}”`, field(v, 'lineage.reason'))] : null,
              v.lineage.actor ? [h('br'), traced(v.lineage.actor, field(v, 'lineage.actor'), 'value muted')] : null,
            ),
            h('td', null, provenance(v)),
            h('td', null, v.verdict ? traced(v.verdict.ok ? 'clean' : 'failed', field(v, 'verdict.ok'), v.verdict.ok ? 'badge up' : 'badge down') : '—'),
          ),
        ),
      ),
    ),
  );
}

function usagePanel(usage: Optional<UsageReply>, ctx: ViewContext): HTMLElement {
  if (!usage.available) return notAvailable('hourly usage and forecast', usage.endpoint);
  const data = usage.data;
  if (data.actual.length === 0 && !data.forecast) return h('p', null, 'no usage reported for this key yet (POST /usage, keyrotor ingest)');
  const chart = timeChart({
    title: `Hourly use, last ${USAGE_HOURS} h, and the forecast`,
    source: 'GET /keys/:name/usage actual[].count and .bySource, forecast.mean/lower/upper, anomalies.flagged[]',
    data: usageSeries(data),
    series: [
      { label: 'actual', color: COLORS.actual },
      { label: 'forecast', color: COLORS.forecast, dash: [6, 4] },
      { label: 'lower', color: 'rgba(124,58,237,0.4)', width: 0.5 },
      { label: 'upper', color: 'rgba(124,58,237,0.4)', width: 0.5 },
      { label: 'anomaly', color: COLORS.anomaly, pointsOnly: true },
      { label: 'reported (app-report)', color: COLORS.ok, dash: [2, 3] },
      { label: 'HSM saw (hsm-log)', color: COLORS.palette[2] as string, dash: [8, 3] },
    ],
    bands: [{ upper: 4, lower: 3, fill: COLORS.band }],
    yLabel: 'operations / h',
  });
  ctx.onLeave(chart.destroy);
  const forecast = data.forecast;
  // Before the key's first evaluation there is neither a forecast nor an anomaly report.
  const anomalies = data.anomalies;
  return chartPanel(
    chart.element,
    [
      forecast
        ? [
            'forecast ',
            traced(forecast.method, 'GET /keys/:name/usage forecast.method'),
            ' (',
            traced(forecast.modelVersion, 'GET /keys/:name/usage forecast.modelVersion'),
            `), ${forecast.horizon} h ahead, interval `,
            traced(formatPercent(forecast.intervalLevel, 0), 'GET /keys/:name/usage forecast.intervalLevel'),
            ' — ',
            traced(forecast.reason, 'GET /keys/:name/usage forecast.reason'),
          ]
        : 'no forecast yet',
      anomalies
        ? [
            ' · anomaly score ',
            traced(formatNumber(anomalies.score, 2), 'GET /keys/:name/usage anomalies.score'),
            ', ',
            traced(formatNumber(anomalies.flagged.length), 'GET /keys/:name/usage anomalies.flagged[]'),
            ' hours flagged',
          ]
        : ' · no anomaly report yet',
    ],
    anomalies && anomalies.flagged.length > 0
      ? h(
          'ul',
          { class: 'anomalies' },
          anomalies.flagged.map((a) => h('li', null, traced(a.direction, 'GET /keys/:name/usage anomalies.flagged[].direction', `badge ${a.direction === 'spike' ? 'critical' : 'warning'}`), ` ${formatTime(a.at)}: `, traced(formatNumber(a.actual), 'anomalies.flagged[].actual'), ' against ', traced(formatNumber(a.expected, 1), 'anomalies.flagged[].expected'), ' expected')),
        )
      : null,
    usesBySource(data.uses),
  );
}

/**
 * Encryption keys: decrypt and unwrap use of each version that still decrypts, in the hours shown. A version that is
 * no longer active is archived only once its decrypt use stops for a grace period: this is what holds it back.
 */
function decryptUseByVersion(key: KeyDetail, uses: UsageReply['uses']): HTMLElement | null {
  const decrypting = key.versions.filter((v) => v.mayDecrypt === true);
  if (decrypting.length === 0) return null;
  const field = 'GET /keys/:name/usage uses[] (op decrypt, unwrap)';
  return h(
    'table',
    { class: 'decrypt-use', 'data-source': field },
    h('thead', null, h('tr', null, ...['version', 'state', 'decrypt and unwrap uses', 'by', 'last'].map((title) => h('th', null, title)))),
    h(
      'tbody',
      null,
      decrypting.map((v) => {
        const mine = uses.filter((use) => use.version === v.version && (use.op === 'decrypt' || use.op === 'unwrap'));
        const count = mine.reduce((sum, use) => sum + use.count, 0);
        const last = mine.map((use) => use.lastAt).sort().at(-1);
        const holds = v.state !== 'active' && count > 0;
        return h(
          'tr',
          { 'data-version': v.version },
          h('td', null, `v${v.version}`),
          h('td', null, traced(v.state, `GET /keys/:name versions[${v.version}].state`, `badge state-${v.state}`)),
          h('td', null, holds ? traced(formatNumber(count), field, 'badge warning') : traced(formatNumber(count), field), holds ? h('small', null, ' holds its archive back') : null),
          h('td', null, [...new Set(mine.map((use) => use.app))].join(', ') || '—'),
          h('td', null, last ? formatTime(last) : '—'),
        );
      }),
    ),
  );
}

/** Every use in the hours shown, per source, application, node, version and operation: what the HSM saw beside what was reported. */
function usesBySource(uses: UsageReply['uses']): HTMLElement | null {
  if (uses.length === 0) return null;
  const field = (name: string): string => `GET /keys/:name/usage uses[].${name}`;
  return h(
    'table',
    { class: 'uses-by-source', 'data-source': 'GET /keys/:name/usage uses[]' },
    h('thead', null, h('tr', null, ...['source', 'application', 'node', 'version', 'operation', 'count', 'last'].map((title) => h('th', null, title)))),
    h(
      'tbody',
      null,
      uses.map((use) =>
        h(
          'tr',
          null,
          h('td', null, traced(use.source, field('source'), use.source === 'hsm-log' ? 'badge warning' : 'badge up')),
          h('td', null, traced(use.app, field('app'))),
          h('td', null, traced(use.node ?? '—', field('node'))),
          h('td', null, traced(`v${use.version}`, field('version'))),
          h('td', null, traced(use.op, field('op'))),
          h('td', null, traced(formatNumber(use.count), field('count'))),
          h('td', null, traced(formatTime(use.lastAt), field('lastAt'))),
        ),
      ),
    ),
  );
}

/** A chart, the note that says what it shows under it, then what follows. */
function chartPanel(chart: HTMLElement, note: Child[], ...more: Child[]): HTMLElement {
  return h('div', null, chart, h('p', { class: 'chart-note' }, note), ...more);
}

function riskPanel(risk: Optional<RiskReply>, ctx: ViewContext): HTMLElement {
  if (!risk.available) return notAvailable('risk history', risk.endpoint);
  const newest = risk.data.items[0];
  if (!newest) return h('p', null, 'no risk evaluation yet');
  const chart = timeChart({
    title: 'Risk score against the rotation threshold',
    source: 'GET /keys/:name/risk items[].score, items[].threshold',
    data: riskSeries(risk.data),
    series: [
      { label: 'risk', color: COLORS.forecast },
      limitSeries('threshold'),
    ],
    yRange: [0, 1],
    height: 180,
  });
  ctx.onLeave(chart.destroy);
  const field = (name: string): string => `GET /keys/:name/risk items[0].${name}`;
  return chartPanel(
    chart.element,
    [
      'newest evaluation ',
      traced(formatTime(newest.evaluatedAt), field('evaluatedAt')),
      ' on v',
      traced(newest.version, field('version')),
      ': score ',
      traced(formatNumber(newest.score, 3), field('score'), newest.score >= newest.threshold ? 'value bad' : 'value'),
      ' / threshold ',
      traced(formatNumber(newest.threshold, 2), field('threshold')),
      newest.trigger ? [' · trigger ', traced(newest.trigger, field('trigger'))] : null,
      newest.reason ? [' — ', traced(newest.reason, field('reason'))] : null,
    ],
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'components-table' },
        h('thead', null, h('tr', null, ['component', 'value', 'weight', 'contribution', 'detail'].map((label) => h('th', null, label)))),
        h(
          'tbody',
          null,
          newest.components.map((c) =>
            h(
              'tr',
              null,
              h('td', null, traced(c.name, field('components[].name'))),
              h('td', { class: 'num' }, traced(formatNumber(c.value, 3), field('components[].value'))),
              h('td', { class: 'num' }, traced(formatNumber(c.weight, 2), field('components[].weight'))),
              h('td', { class: 'num' }, traced(formatNumber(c.contribution, 3), field('components[].contribution'))),
              h('td', null, traced(c.detail, field('components[].detail'))),
            ),
          ),
        ),
      ),
    ),
  );
}

function actions(key: KeyDetail, ctx: ViewContext, reload: () => void): HTMLElement | null {
  if (!ctx.me.mayAct || key.phase === 'decommissioned' || key.phase === 'decommissioning') return null;
  const path = `/keys/${encodeURIComponent(key.name)}`;
  const active = key.activeVersion;
  const done = (message: string): void => {
    ctx.toast(message);
    reload();
  };
  const rotate = (): void => {
    openActionDialog({
      id: 'rotate-dialog',
      title: `Rotate ${key.name} now`,
      intro: [
        `A new version is generated on a healthy node, replicated to every node and becomes active; `,
        active ? `v${active} keeps verifying through a grace period of ${key.policy?.gracePeriod ?? 'the policy’s length'}.` : 'there is no active version yet.',
      ],
      fields: [
        { name: 'reason', label: 'Reason (goes into the lineage and the audit log)', kind: 'textarea', placeholder: 'why rotate now' },
        { name: 'confirm', label: `I confirm rotating ${key.name} now`, kind: 'checkbox' },
      ],
      confirmLabel: 'Rotate now',
      valid: (v) => typeof v.reason === 'string' && v.reason.length > 0 && v.confirm === true,
      submit: async (v) => {
        const result = await ctx.api.post<{ version: number }>(`${path}/rotate`, { reason: v.reason });
        return `${key.name}: v${result.version} is active`;
      },
      onDone: done,
    });
  };
  const emergency = (): void => {
    openActionDialog({
      id: 'emergency-dialog',
      title: `Emergency rotation of ${key.name}`,
      intro: h(
        'p',
        { class: 'warning-text' },
        active ? `v${active} stops signing on every node before anything else, is marked compromised and archived at once — no grace period. ` : '',
        'Applications still using it fail until they switch. Type the key’s name to confirm.',
      ),
      fields: [
        { name: 'reason', label: 'Reason', kind: 'textarea', placeholder: 'what happened' },
        { name: 'typed', label: `Type ${key.name}`, kind: 'text', placeholder: key.name },
      ],
      confirmLabel: 'Rotate as compromised',
      danger: true,
      valid: (v) => typeof v.reason === 'string' && v.reason.length > 0 && v.typed === key.name,
      submit: async (v) => {
        const result = await ctx.api.post<{ version: number; signingDisabledOn: string[] }>(`${path}/rotate`, { reason: v.reason, emergency: true });
        return `${key.name}: v${result.version} is active; signing disabled on ${result.signingDisabledOn.join(', ') || 'no node'}`;
      },
      onDone: done,
    });
  };
  const extend = (): void => {
    openActionDialog({
      id: 'grace-dialog',
      title: `Extend the grace period of ${key.name}`,
      intro: [
        'The grace period now ends ',
        traced(formatTime(key.deadlines.graceDeadline), 'GET /keys/:name deadlines.graceDeadline'),
        '; it can end no later than ',
        traced(formatTime(key.deadlines.graceCap), 'GET /keys/:name deadlines.graceCap'),
        ` (maxGracePeriod ${key.policy?.maxGracePeriod ?? '—'}).`,
      ],
      fields: [
        { name: 'extendBy', label: 'Extend by', kind: 'text', value: '1h', hint: 'a duration: 30m, 12h, 2d' },
        { name: 'reason', label: 'Reason', kind: 'textarea', placeholder: 'which applications still need the old version' },
      ],
      confirmLabel: 'Extend',
      valid: (v) => typeof v.reason === 'string' && v.reason.length > 0 && typeof v.extendBy === 'string' && /^(\d+(\.\d+)?[smhdw]|P.+)$/.test(v.extendBy),
      submit: async (v) => {
        const result = await ctx.api.post<{ expectedDeadline: string }>(`${path}/grace`, { extendBy: v.extendBy, reason: v.reason });
        return `${key.name}: the grace period now ends ${formatTime(result.expectedDeadline)}`;
      },
      onDone: done,
    });
  };
  const resume = (): void => {
    openActionDialog({
      id: 'resume-dialog',
      title: `Resume ${key.name}`,
      intro: ['The key stopped at ', traced(key.held?.step ?? '—', 'GET /keys/:name held.step'), '. Resuming runs that step again: fix its cause first.'],
      fields: [{ name: 'reason', label: 'What was fixed', kind: 'textarea', placeholder: 'the node is back, the database constraint was fixed, …' }],
      confirmLabel: 'Resume',
      valid: (v) => typeof v.reason === 'string' && v.reason.length > 0,
      submit: async (v) => {
        const result = await ctx.api.post<{ resumed: string }>(`${path}/resume`, { reason: v.reason });
        return `${key.name}: resumed at ${result.resumed}`;
      },
      onDone: done,
    });
  };
  return h(
    'div',
    { class: 'actions', 'data-testid': 'key-actions' },
    key.held ? h('button', { type: 'button', class: 'primary', 'data-action': 'resume', onClick: resume }, 'Resume…') : null,
    h('button', { type: 'button', class: 'primary', 'data-action': 'rotate', onClick: rotate }, 'Rotate now…'),
    key.deadlines.graceDeadline ? h('button', { type: 'button', 'data-action': 'extend-grace', onClick: extend }, 'Extend grace period…') : null,
    h('button', { type: 'button', class: 'danger', 'data-action': 'emergency', onClick: emergency }, 'Emergency rotation…'),
  );
}

function summary(key: KeyDetail, ctx: ViewContext): HTMLElement {
  const nowMs = ctx.nowMs();
  const p = key.prediction;
  const item = (label: string, value: HTMLElement | string, extra?: string | null): HTMLElement[] => [h('dt', null, label), h('dd', null, value, extra ? h('small', null, ` ${extra}`) : null)];
  return h(
    'dl',
    { class: 'facts' },
    item('phase', traced(key.phase, 'GET /keys/:name phase', `badge phase-${key.phase}`)),
    key.minDecryptionVersion !== undefined && key.minDecryptionVersion !== null
      ? item('minDecryptionVersion', traced(`v${key.minDecryptionVersion}`, 'GET /keys/:name minDecryptionVersion'), 'older ciphertexts no longer open')
      : [],
    key.held
      ? item('held', traced(`at ${key.held.step}: ${key.held.reason}`, 'GET /keys/:name held', 'badge phase-held'), `since ${formatTime(key.held.since)}; resume once the cause is fixed`)
      : [],
    key.waiting
      ? key.waiting.nodes
        ? item('waiting for', traced(`${key.waiting.nodes.join(', ')}: ${key.waiting.step ?? ''}`, 'GET /keys/:name waiting.nodes, waiting.step'), `since ${formatTime(key.waiting.since)}${key.waiting.alertedAt ? `; alerted ${formatTime(key.waiting.alertedAt)}` : ''}; the step runs once the node's HSM worker is back`)
        : item('waiting for', traced(key.waiting.for, 'GET /keys/:name waiting.for'), `since ${formatTime(key.waiting.since)}`)
      : [],
    key.working ? item('now', traced(key.working, 'GET /keys/:name working')) : [],
    item('type', traced(key.keyType, 'GET /keys/:name keyType')),
    item('active version', traced(key.activeVersion === null ? '—' : `v${key.activeVersion}`, 'GET /keys/:name activeVersion')),
    item('grace deadline', traced(formatTime(key.deadlines.graceDeadline), 'GET /keys/:name deadlines.graceDeadline', 'value grace-deadline'), formatRelative(key.deadlines.graceDeadline, nowMs)),
    item('grace cap', traced(formatTime(key.deadlines.graceCap), 'GET /keys/:name deadlines.graceCap')),
    item('rotation by age', traced(formatTime(key.deadlines.nextRotationAt), 'GET /keys/:name deadlines.nextRotationAt'), formatRelative(key.deadlines.nextRotationAt, nowMs)),
    p
      ? [
          ...item('risk score', traced(p.riskScore === null ? '—' : formatNumber(p.riskScore, 3), 'GET /keys/:name prediction.riskScore'), `threshold ${formatNumber(p.riskThreshold, 2)}`),
          ...item('predicted rotation', traced(formatTime(p.predictedRotationAt), 'GET /keys/:name prediction.predictedRotationAt'), p.predictedTrigger ? `by ${p.predictedTrigger}` : null),
          ...item('next evaluation', traced(formatTime(p.nextEvaluationAt), 'GET /keys/:name prediction.nextEvaluationAt')),
          ...(p.reason ? item('why', traced(p.reason, 'GET /keys/:name prediction.reason')) : []),
        ]
      : item('prediction', h('span', { class: 'not-available' }, 'not available (no prediction field in GET /keys/:name)')),
    item('policy', traced(`grace ${key.policy?.gracePeriod ?? '—'}, max grace ${key.policy?.maxGracePeriod ?? '—'}, max age ${key.policy?.maxAge ?? '—'}, retention ${key.policy?.retention ?? '—'}, ${key.policy?.sensitivity ?? ''}`, 'GET /keys/:name policy')),
  );
}

export const keyDetailView: View = async (root, ctx) => {
  const name = ctx.params[0] ?? '';
  const path = `/keys/${encodeURIComponent(name)}`;
  replaceChildren(root, h('h1', null, name), h('p', { class: 'loading' }, 'loading…'));
  let key: KeyDetail;
  try {
    key = await ctx.api.get<KeyDetail>(path);
  } catch (error) {
    replaceChildren(root, h('h1', null, name), h('p', { class: 'error' }, errorMessage(error)), h('p', null, h('a', { href: '#/keys' }, '← all keys')));
    ready(root);
    return;
  }
  const reload = (): void => {
    ctx.navigate(`#/keys/${encodeURIComponent(name)}?at=${Date.now()}`);
  };
  const usageSlot = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  const decryptSlot = h('div', null);
  const riskSlot = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  replaceChildren(
    root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/keys' }, '← all keys')),
    h('h1', null, traced(key.name, 'GET /keys/:name name')),
    h('p', null, temporalLink(ctx, key.workflowId ?? `key/${key.name}`)),
    actions(key, ctx, reload),
    h('div', { class: 'columns' }, section('Key', { id: 'key-facts' }, summary(key, ctx)), section('Risk', { id: 'risk' }, riskSlot)),
    section('Versions', { id: 'versions' }, timeline(key.versions.map(versionLane), ctx.nowMs()), versionTable(key.versions), decryptSlot),
    section('Usage', { id: 'usage' }, usageSlot),
  );
  const [usage, risk] = await Promise.allSettled([ctx.api.optional<UsageReply>(`${path}/usage?hours=${USAGE_HOURS}`), ctx.api.optional<RiskReply>(`${path}/risk?limit=100`)]);
  replaceChildren(usageSlot, usage.status === 'fulfilled' ? usagePanel(usage.value, ctx) : h('p', { class: 'error' }, errorMessage(usage.reason)));
  if (usage.status === 'fulfilled' && usage.value.available) replaceChildren(decryptSlot, decryptUseByVersion(key, usage.value.data.uses));
  replaceChildren(riskSlot, risk.status === 'fulfilled' ? riskPanel(risk.value, ctx) : h('p', { class: 'error' }, errorMessage(risk.reason)));
  ready(root);
};
