import { COLORS, limitSeries, timeChart } from '../charts';
import { h, replaceChildren, section, traced } from '../dom';
import type { EntropyReport } from '../model/api-types';
import { formatNumber, formatPercent, formatRelative, formatTime } from '../model/format';
import { batterySeries, minEntropySeries, passProportionBounds, poolSeries } from '../model/series';
import { ready, type View, type ViewContext } from '../view';

const HISTORY = 200;

function sourcesTable(report: EntropyReport): HTMLElement {
  const field = (name: string): string => `GET /entropy nodes[].sources[].${name}`;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'sources-table' },
      h('thead', null, h('tr', null, ['source', 'state', 'health tests', 'min-entropy (bits/sample)', 'assessed', 'credited last harvest'].map((label) => h('th', null, label)))),
      h(
        'tbody',
        null,
        report.sources.map((source) =>
          h(
            'tr',
            { 'data-source-name': source.name },
            h('td', null, traced(source.name, field('name'), 'value mono')),
            h('td', null, traced(source.state, field('state'), `chip ${source.state}`)),
            h('td', null, source.lastHealth ? [traced(source.lastHealth.verdict, field('lastHealth.verdict'), `badge verdict-${source.lastHealth.verdict}`), ` on ${formatNumber(source.lastHealth.samples)} samples`] : '—'),
            h('td', { class: 'num' }, source.assessment ? traced(`${formatNumber(source.assessment.minEntropy, 3)} / ${source.bitsPerSample ?? '?'}`, field('assessment.minEntropy')) : traced(source.credit === 'none' ? 'not credited' : 'not assessed', field('credit'))),
            h('td', { class: 'time' }, source.assessment ? traced(formatTime(source.assessment.at), field('assessment.at')) : '—'),
            h('td', { class: 'num' }, traced(formatNumber(source.creditedBitsLastHarvest ?? null), field('creditedBitsLastHarvest'))),
          ),
        ),
      ),
    ),
    report.sources.some((source) => source.error) ? h('ul', { class: 'errors' }, report.sources.filter((s) => s.error).map((s) => h('li', null, `${s.name}: `, traced(s.error, field('error'))))) : null,
  );
}

async function nodePanel(report: EntropyReport, ctx: ViewContext): Promise<HTMLElement> {
  const history = await ctx.api.get<{ reports: EntropyReport[] }>(`/entropy/history?node=${encodeURIComponent(report.nodeId)}&limit=${HISTORY}`);
  const snapshot = report.snapshot;
  const battery = snapshot.battery;
  const charts = [];
  const pool = timeChart({
    title: 'Credited pool entropy against its minimum',
    source: 'GET /entropy/history reports[].snapshot.creditedBits, .minimumCreditedBits',
    data: poolSeries(history.reports),
    series: [
      { label: 'credited bits', color: COLORS.actual },
      limitSeries('minimum'),
    ],
    yLabel: 'bits',
    height: 180,
  });
  charts.push(pool);
  const minEntropy = minEntropySeries(history.reports);
  if (minEntropy.names.length > 0) {
    charts.push(
      timeChart({
        title: 'Min-entropy estimates (SP 800-90B) per source',
        source: 'GET /entropy/history reports[].sources[].assessment.minEntropy',
        data: minEntropy.data,
        series: minEntropy.names.map((name, i) => ({ label: name, color: COLORS.palette[i % COLORS.palette.length] as string })),
        yLabel: 'bits / sample',
        height: 180,
      }),
    );
  }
  const batteryData = batterySeries(history.reports);
  if (batteryData[0].length > 0) {
    charts.push(
      timeChart({
        title: 'SP 800-22 pass proportion of the pool output',
        source: 'GET /entropy/history reports[].snapshot.battery.passed, .failed',
        data: batteryData,
        series: [
          { label: 'pass proportion', color: COLORS.ok },
          limitSeries('lower bound (§4.2.1)'),
        ],
        yRange: [0.9, 1],
        height: 160,
      }),
    );
  }
  for (const chart of charts) ctx.onLeave(chart.destroy);
  const tests = battery ? battery.passed + battery.failed.length : 0;
  const field = (name: string): string => `GET /entropy nodes[].${name}`;
  return section(
    report.nodeId,
    { class: 'panel node-entropy', 'data-node': report.nodeId },
    h(
      'p',
      null,
      traced(report.healthy ? 'healthy' : 'unhealthy', field('healthy'), `badge ${report.healthy ? 'up' : 'down'}`),
      ' pool ',
      traced(`${formatNumber(snapshot.creditedBits)} bits`, field('snapshot.creditedBits')),
      ' (minimum ',
      traced(formatNumber(snapshot.minimumCreditedBits), field('snapshot.minimumCreditedBits')),
      ') · DRBG ',
      traced(snapshot.drbg.instantiated ? `${formatNumber(snapshot.drbg.reseeds)} reseeds` : 'not instantiated', field('snapshot.drbg.reseeds')),
      ' · last harvest ',
      traced(formatTime(report.at), field('at')),
      ` (${formatRelative(report.at, ctx.nowMs())})`,
    ),
    battery
      ? h(
          'p',
          null,
          'SP 800-22 on ',
          traced(formatNumber(battery.bits), field('snapshot.battery.bits')),
          ' bits: ',
          traced(formatNumber(battery.passed), field('snapshot.battery.passed')),
          ' passed, ',
          traced(formatNumber(battery.failed.length), field('snapshot.battery.failed')),
          ' failed',
          battery.failed.length > 0 ? ` (${battery.failed.join(', ')})` : '',
          ', ',
          traced(formatNumber(battery.notApplicable), field('snapshot.battery.notApplicable')),
          ' not applicable — proportion ',
          traced(formatPercent(tests > 0 ? battery.passed / tests : null, 1), 'passed / (passed + failed)'),
          `, acceptable from ${formatPercent(passProportionBounds(tests).lower, 1)}`,
        )
      : h('p', null, 'no SP 800-22 run yet'),
    sourcesTable(report),
    h('div', { class: 'chart-grid' }, charts.map((chart) => chart.element)),
  );
}

export const entropyView: View = async (root, ctx) => {
  const body = h('div', null, h('p', { class: 'loading' }, 'loading…'));
  replaceChildren(root, h('h1', null, 'Entropy'), body);
  const latest = await ctx.api.get<{ nodes: EntropyReport[] }>('/entropy');
  const missing = ctx.info.nodes.filter((id) => !latest.nodes.some((report) => report.nodeId === id));
  const panels = await Promise.all(latest.nodes.map((report) => nodePanel(report, ctx)));
  replaceChildren(
    body,
    latest.nodes.length === 0 ? h('p', null, `no harvest report yet: each node harvests every ${ctx.info.entropy.harvestIntervalSeconds} s (the first run assesses every source and takes a while)`) : null,
    missing.length > 0 && latest.nodes.length > 0 ? h('p', { class: 'warning-text' }, `no harvest report yet from ${missing.join(', ')}`) : null,
    panels,
  );
  ready(root);
};
