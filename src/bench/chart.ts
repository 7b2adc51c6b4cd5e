/**
 * The benchmarks' scaling curves as one standalone SVG document (a grid of
 * line charts), committed beside docs/benchmarks.md and shown there with
 * `![](benchmarks.svg)`. Pure and dependency-free: the same panels always give
 * the same bytes, so a rerun with unchanged figures leaves git quiet.
 *
 * GitHub shows an SVG in markdown as an image: no scripts, no external fonts
 * or links, so text is laid out here from estimated widths (no measuring at
 * render time), generously enough for the viewer's sans-serif.
 */

export interface ChartSeries {
  name: string;
  points: { x: number; y: number }[];
  /** Drawn dashed: a baseline or reference next to the measured curves. */
  dashed?: boolean;
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: ChartSeries[];
  /** A horizontal goal line with its label. */
  goal?: { y: number; label: string };
}

export interface ChartOptions {
  /** The document's heading. */
  title?: string;
  /** Panels per row; 2 unless given. */
  columns?: number;
}

/**
 * Okabe & Ito's colour-blind-safe palette, ordered for contrast on white (its
 * yellow last). Each series name keeps one colour and marker in every panel.
 */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond'] as const;

const PANEL_W = 460;
const PLOT_H = 220;
const PAD = 12;
const GAP = 16;
const FONT = { title: 14, label: 12, tick: 11, legend: 12, heading: 16 };
const LINE = { title: 18, label: 15, legend: 18 };
const LEGEND_SWATCH = 26;

/**
 * Ticks at "nice" steps (1, 2, 2.5 or 5 × a power of ten) covering [min, max],
 * about `target` of them; the first and last are the axis' ends.
 */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (min === max) [min, max] = min === 0 ? [0, 1] : [min - Math.abs(min) / 10, max + Math.abs(max) / 10];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  const step = nice * mag;
  // Decimals of the step, so 0.1 + 0.2 prints as 0.3.
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (nice === 2.5 ? 1 : 0));
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)) || 0);
  return ticks;
}

/**
 * Powers of ten covering [min, max] (both > 0), at most about 8 of them: a
 * single value gets the decades either side.
 */
export function logTicks(min: number, max: number): number[] {
  let lo = Math.floor(Math.log10(min) + 1e-9);
  let hi = Math.ceil(Math.log10(max) - 1e-9);
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const every = Math.ceil((hi - lo) / 8);
  hi = lo + Math.ceil((hi - lo) / every) * every;
  const ticks: number[] = [];
  // Number('1e-3') is exact where 10 ** -3 need not be.
  for (let k = lo; k <= hi; k += every) ticks.push(Number(`1e${k}`));
  return ticks;
}

/** A tick label: 0.2, 500, 1k, 12.5k, 2M. */
export function formatTick(v: number): string {
  const units: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, unit] of units) if (Math.abs(v) >= size) return `${Number((v / size).toFixed(2))}${unit}`;
  return String(Number(v.toPrecision(6)));
}

/** Text made safe for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text
    // Characters XML 1.0 forbids outright, even as references.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Estimated width of `text` in a sans-serif font of `size` px (wide-ish, so text fits in any). */
export function textWidth(text: string, size: number, bold = false): number {
  let em = 0;
  for (const c of text) {
    if (/[ijl.,:;'|!()[\]{}\s]/.test(c)) em += 0.32;
    else if (/[frt\-1]/.test(c)) em += 0.45;
    else if (/[mwMW@%]/.test(c)) em += 0.9;
    else if (/[A-Z]/.test(c)) em += 0.7;
    else em += 0.6;
  }
  return em * size * (bold ? 1.1 : 1);
}

/** Words wrapped into lines of at most `width` px (a single long word keeps its own line). */
function wrap(text: string, size: number, width: number, bold = false): string[] {
  const lines: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const last = lines[lines.length - 1];
    if (last !== undefined && textWidth(`${last} ${word}`, size, bold) <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines.length ? lines : [''];
}

/** A coordinate with one decimal, never "-0". */
const n = (v: number): string => String(Math.round(v * 10) / 10 || 0);

function text(x: number, y: number, lines: string[], attrs: string, lineHeight: number): string {
  const spans = lines.map((l, i) => `<tspan x="${n(x)}"${i ? ` dy="${lineHeight}"` : ''}>${escapeXml(l)}</tspan>`).join('');
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${lines.length === 1 ? escapeXml(lines[0]!) : spans}</text>`;
}

function marker(kind: (typeof MARKERS)[number], x: number, y: number, colour: string): string {
  switch (kind) {
    case 'circle': return `<circle cx="${n(x)}" cy="${n(y)}" r="3.5" fill="${colour}"/>`;
    case 'square': return `<rect x="${n(x - 3.2)}" y="${n(y - 3.2)}" width="6.4" height="6.4" fill="${colour}"/>`;
    case 'triangle': return `<path d="M${n(x)} ${n(y - 4.2)}L${n(x + 4)} ${n(y + 3)}L${n(x - 4)} ${n(y + 3)}Z" fill="${colour}"/>`;
    case 'diamond': return `<path d="M${n(x)} ${n(y - 4.5)}L${n(x + 4.5)} ${n(y)}L${n(x)} ${n(y + 4.5)}L${n(x - 4.5)} ${n(y)}Z" fill="${colour}"/>`;
  }
}

interface Style { colour: string; marker: (typeof MARKERS)[number] }

/** A linear or log axis: its ticks and a map from data values to [0, 1]. */
interface Axis { ticks: number[]; at: (v: number) => number }

function axis(values: number[], log: boolean, withZero: boolean): Axis {
  // A linear y axis starts at zero, so the curves' heights compare honestly.
  // reduce, not Math.min(...values): no argument-count limit on long series.
  const min = values.reduce((m, v) => Math.min(m, v), withZero && !log ? 0 : Infinity);
  const max = values.reduce((m, v) => Math.max(m, v), withZero && !log ? 0 : -Infinity);
  if (log) {
    const ticks = logTicks(min, max);
    const [a, b] = [Math.log10(ticks[0]!), Math.log10(ticks[ticks.length - 1]!)];
    return { ticks, at: (v) => (Math.log10(v) - a) / (b - a) };
  }
  const ticks = niceTicks(min, max);
  const [a, b] = [ticks[0]!, ticks[ticks.length - 1]!];
  return { ticks, at: (v) => (v - a) / (b - a) };
}

/** A panel's points that can be drawn: finite, and positive on a log axis. */
function drawable(panel: ChartPanel, s: ChartSeries): { x: number; y: number }[] {
  const ok = (v: number, log?: boolean) => Number.isFinite(v) && (!log || v > 0);
  return s.points.filter((p) => ok(p.x, panel.xLog) && ok(p.y, panel.yLog));
}

interface LegendItem { name: string; style: Style; dashed: boolean; width: number }

/** Legend entries laid out in rows no wider than `width`. */
function legendRows(items: LegendItem[], width: number): LegendItem[][] {
  const rows: LegendItem[][] = [];
  let used = Infinity;
  for (const item of items) {
    if (used + item.width > width) { rows.push([]); used = 0; }
    rows[rows.length - 1]!.push(item);
    used += item.width;
  }
  return rows;
}

function legendItems(panel: ChartPanel, styles: Map<string, Style>): LegendItem[] {
  return panel.series.map((s) => {
    const name = drawable(panel, s).length ? s.name : `${s.name} (no data)`;
    return { name, style: styles.get(s.name)!, dashed: !!s.dashed, width: LEGEND_SWATCH + 6 + textWidth(name, FONT.legend) + 16 };
  });
}

/**
 * One panel, drawn at the origin. `titleLines` is the most any panel's title
 * takes, so that the plots of a row start at one height.
 */
function renderPanel(panel: ChartPanel, styles: Map<string, Style>, titleLines: number): string {
  const out: string[] = [];
  out.push(text(PANEL_W / 2, PAD + FONT.title, wrap(panel.title, FONT.title, PANEL_W - 2 * PAD, true), `font-size="${FONT.title}" font-weight="bold" text-anchor="middle"`, LINE.title));
  const top = PAD + titleLines * LINE.title + 10;
  const points = panel.series.map((s) => drawable(panel, s));
  const all = points.flat();
  if (all.length === 0) {
    out.push(`<rect x="${PAD}" y="${top}" width="${PANEL_W - 2 * PAD}" height="${PLOT_H}" fill="none" stroke="#ccc"/>`);
    out.push(text(PANEL_W / 2, top + PLOT_H / 2, ['no data'], `font-size="${FONT.label}" fill="#777" text-anchor="middle"`, LINE.label));
    return out.join('\n');
  }
  const goal = panel.goal && Number.isFinite(panel.goal.y) && (!panel.yLog || panel.goal.y > 0) ? panel.goal : undefined;
  const xAxis = axis(all.map((p) => p.x), !!panel.xLog, false);
  const yAxis = axis([...all.map((p) => p.y), ...(goal ? [goal.y] : [])], !!panel.yLog, true);
  const yTickLabels = yAxis.ticks.map(formatTick);
  const xTickLabels = xAxis.ticks.map(formatTick);
  const yLabelLines = wrap(panel.yLabel, FONT.label, PLOT_H);
  const left = PAD + yLabelLines.length * LINE.label + 8 + Math.max(...yTickLabels.map((l) => textWidth(l, FONT.tick))) + 6;
  const right = PANEL_W - PAD - Math.max(8, textWidth(xTickLabels[xTickLabels.length - 1]!, FONT.tick) / 2);
  const bottom = top + PLOT_H;
  const sx = (v: number) => left + xAxis.at(v) * (right - left);
  const sy = (v: number) => bottom - yAxis.at(v) * PLOT_H;

  // Grid, axes, ticks.
  yAxis.ticks.forEach((t, i) => {
    out.push(`<line x1="${n(left)}" y1="${n(sy(t))}" x2="${n(right)}" y2="${n(sy(t))}" stroke="#e6e6e6"/>`);
    out.push(text(left - 6, sy(t) + FONT.tick * 0.35, [yTickLabels[i]!], `font-size="${FONT.tick}" fill="#333" text-anchor="end"`, 0));
  });
  xAxis.ticks.forEach((t, i) => {
    out.push(`<line x1="${n(sx(t))}" y1="${n(top)}" x2="${n(sx(t))}" y2="${n(bottom)}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${n(sx(t))}" y1="${n(bottom)}" x2="${n(sx(t))}" y2="${n(bottom + 4)}" stroke="#333"/>`);
    out.push(text(sx(t), bottom + 6 + FONT.tick, [xTickLabels[i]!], `font-size="${FONT.tick}" fill="#333" text-anchor="middle"`, 0));
  });
  out.push(`<path d="M${n(left)} ${n(top)}V${n(bottom)}H${n(right)}" fill="none" stroke="#333"/>`);
  const xLabelLines = wrap(panel.xLabel, FONT.label, PANEL_W - 2 * PAD);
  const xLabelY = bottom + 6 + FONT.tick + 8 + FONT.label;
  out.push(text((left + right) / 2, xLabelY, xLabelLines, `font-size="${FONT.label}" text-anchor="middle"`, LINE.label));
  // Rotated: the tspans' x is along the axis in the turned frame.
  const yMid = (top + bottom) / 2;
  out.push(`<g transform="translate(${n(PAD + FONT.label)} ${n(yMid)}) rotate(-90)">${text(0, 0, yLabelLines, `font-size="${FONT.label}" text-anchor="middle"`, LINE.label)}</g>`);

  if (goal) {
    const y = sy(goal.y);
    out.push(`<line x1="${n(left)}" y1="${n(y)}" x2="${n(right)}" y2="${n(y)}" stroke="#555" stroke-width="1.2" stroke-dasharray="8 3 2 3"/>`);
    // Above the line, unless that would run into the panel's title.
    const labelY = y - top < FONT.tick + 6 ? y + FONT.tick + 4 : y - 5;
    out.push(text(right - 4, labelY, [goal.label], `font-size="${FONT.tick}" fill="#333" text-anchor="end" stroke="#fff" stroke-width="3" paint-order="stroke"`, 0));
  }

  panel.series.forEach((s, i) => {
    const pts = points[i]!;
    if (pts.length === 0) return;
    const style = styles.get(s.name)!;
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${n(sx(p.x))} ${n(sy(p.y))}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${style.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of pts) out.push(marker(style.marker, sx(p.x), sy(p.y), style.colour));
  });

  // Legend under the x label.
  let y = xLabelY + (xLabelLines.length - 1) * LINE.label + 12 + LINE.legend / 2;
  for (const row of legendRows(legendItems(panel, styles), PANEL_W - 2 * PAD)) {
    let x = PAD;
    for (const item of row) {
      out.push(`<line x1="${n(x)}" y1="${n(y)}" x2="${n(x + LEGEND_SWATCH)}" y2="${n(y)}" stroke="${item.style.colour}" stroke-width="2"${item.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      out.push(marker(item.style.marker, x + LEGEND_SWATCH / 2, y, item.style.colour));
      out.push(text(x + LEGEND_SWATCH + 6, y + FONT.legend * 0.35, [item.name], `font-size="${FONT.legend}"`, 0));
      x += item.width;
    }
    y += LINE.legend;
  }
  return out.join('\n');
}

/** The height under the plot: tick labels, x label and legend rows. */
function belowPlot(panel: ChartPanel, styles: Map<string, Style>): number {
  const xLabelLines = wrap(panel.xLabel, FONT.label, PANEL_W - 2 * PAD).length;
  const rows = legendRows(legendItems(panel, styles), PANEL_W - 2 * PAD).length;
  return 6 + FONT.tick + 8 + FONT.label + (xLabelLines - 1) * LINE.label + 12 + rows * LINE.legend + PAD;
}

/**
 * The panels in a grid, `columns` (default 2) to a row, as a complete SVG
 * document. Never throws on data: non-finite points (and points ≤ 0 on a log
 * axis) are left out, and a panel with nothing to draw says "no data".
 */
export function renderChart(panels: ChartPanel[], opts: ChartOptions = {}): string {
  const asked = Number.isFinite(opts.columns) ? Math.floor(opts.columns!) : 2;
  const columns = Math.max(1, Math.min(asked, panels.length || 1));
  const styles = new Map<string, Style>();
  for (const s of panels.flatMap((p) => p.series)) {
    const k = styles.size;
    if (!styles.has(s.name)) styles.set(s.name, { colour: PALETTE[k % PALETTE.length]!, marker: MARKERS[k % MARKERS.length]! });
  }
  // One height for every panel, so the plots of a row line up.
  const titleLines = Math.max(1, ...panels.map((p) => wrap(p.title, FONT.title, PANEL_W - 2 * PAD, true).length));
  const panelsWithData = panels.filter((p) => p.series.some((s) => drawable(p, s).length));
  const below = Math.max(PAD, ...panelsWithData.map((p) => belowPlot(p, styles)));
  const panelH = PAD + titleLines * LINE.title + 10 + PLOT_H + below;
  const headingH = opts.title ? FONT.heading + 2 * PAD : PAD;
  const rows = Math.ceil(panels.length / columns);
  const width = GAP + columns * (PANEL_W + GAP);
  const height = headingH + rows * (panelH + GAP) + (panels.length ? 0 : 40);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    ...(opts.title ? [`<title>${escapeXml(opts.title)}</title>`] : []),
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
  if (opts.title) out.push(text(width / 2, PAD + FONT.heading, [opts.title], `font-size="${FONT.heading}" font-weight="bold" text-anchor="middle"`, 0));
  if (!panels.length) out.push(text(width / 2, headingH + 20, ['no data'], `font-size="${FONT.label}" fill="#777" text-anchor="middle"`, 0));
  panels.forEach((panel, i) => {
    const x = GAP + (i % columns) * (PANEL_W + GAP);
    const y = headingH + Math.floor(i / columns) * (panelH + GAP);
    out.push(`<g transform="translate(${x} ${y})">`, renderPanel(panel, styles, titleLines), '</g>');
  });
  out.push('</svg>', '');
  return out.join('\n');
}
