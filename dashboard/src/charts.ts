import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Aligned } from './model/series';
import { h } from './dom';

export const COLORS = {
  actual: '#2563eb',
  forecast: '#7c3aed',
  band: 'rgba(124, 58, 237, 0.15)',
  anomaly: '#dc2626',
  threshold: '#dc2626',
  ok: '#16a34a',
  muted: '#64748b',
  palette: ['#2563eb', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'],
};

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
  /** Points only, no line (anomalies). */
  pointsOnly?: boolean;
  width?: number;
  /** Bars (schedule counts). */
  bars?: boolean;
  /** What the legend shows for a value, when it is not the plotted one (stacked bars). */
  legendValue?: (index: number) => string;
}

/** A limit a series is drawn against (a threshold, a minimum, a lower bound): dashed, in the threshold colour. */
export function limitSeries(label: string): SeriesSpec {
  return { label, color: COLORS.threshold, dash: [4, 4] };
}

export interface ChartSpec {
  title: string;
  /** Which API field the chart draws, shown under it. */
  source: string;
  data: Aligned;
  series: SeriesSpec[];
  height?: number;
  /** Pairs of series indices (1-based, as in data) whose area between is filled. */
  bands?: Array<{ upper: number; lower: number; fill: string }>;
  yLabel?: string;
  yRange?: [number, number];
}

/** A chart made with uPlot, sized to its container and redrawn on resize. Returns the element and a destroy function. */
export function timeChart(spec: ChartSpec): { element: HTMLElement; destroy: () => void } {
  const plotArea = h('div', { class: 'chart-plot' });
  const element = h('figure', { class: 'chart', 'data-chart': spec.title }, h('figcaption', null, spec.title), plotArea, h('p', { class: 'chart-source' }, `from ${spec.source}`));
  let plot: uPlot | undefined;
  const width = (): number => Math.max(240, plotArea.clientWidth || element.clientWidth || 600);
  const make = (): void => {
    plot = new uPlot(
      {
        width: width(),
        height: spec.height ?? 220,
        scales: { x: { time: true }, ...(spec.yRange ? { y: { range: spec.yRange } } : {}) },
        axes: [{}, { label: spec.yLabel ?? '', size: 56 }],
        series: [
          {},
          ...spec.series.map((series) => ({
            label: series.label,
            stroke: series.color,
            width: series.width ?? (series.pointsOnly ? 0 : 1.5),
            ...(series.dash ? { dash: series.dash } : {}),
            ...(series.bars ? { fill: series.color, paths: uPlot.paths.bars!({ size: [0.7, 40] }), points: { show: false } } : {}),
            ...(series.pointsOnly ? { paths: () => null, points: { show: true, size: 8, stroke: series.color, fill: series.color } } : {}),
            ...(series.legendValue ? { value: (_u: uPlot, _v: number | null, _s: number, index: number | null) => (index === null ? '—' : series.legendValue!(index)) } : {}),
            spanGaps: !series.pointsOnly,
          })),
        ],
        bands: (spec.bands ?? []).map((band) => ({ series: [band.upper, band.lower] as [number, number], fill: band.fill })),
      },
      spec.data,
      plotArea,
    );
  };
  // uPlot needs the container's width: draw once the figure is in the document.
  requestAnimationFrame(make);
  const observer = new ResizeObserver(() => plot?.setSize({ width: width(), height: spec.height ?? 220 }));
  observer.observe(element);
  return {
    element,
    destroy: () => {
      observer.disconnect();
      plot?.destroy();
    },
  };
}

/** A tiny trend line for a table cell: uPlot with no axes, legend or cursor. */
export function sparkline(values: readonly number[], xs: readonly number[], color: string, source: string): { element: HTMLElement; destroy: () => void } {
  const element = h('span', { class: 'sparkline', title: source, 'data-source': source });
  const plot = new uPlot(
    {
      width: 80,
      height: 22,
      scales: { x: { time: false } },
      axes: [{ show: false }, { show: false }],
      legend: { show: false },
      cursor: { show: false },
      series: [{}, { stroke: color, width: 1.5, points: { show: false } }],
    },
    [xs.slice(), values.slice()] as uPlot.AlignedData,
    element,
  );
  return { element, destroy: () => plot.destroy() };
}
