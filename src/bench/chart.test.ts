/**
 * The benchmarks' SVG chart: well-formed, self-contained, escaped, with
 * readable ticks, and the same bytes for the same figures.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChartPanel, escapeXml, formatTick, logTicks, niceTicks, renderChart } from './chart.js';

/**
 * Throws unless `xml` is one well-formed element: tags balanced and properly
 * nested, attributes quoted and not repeated, `&` only in entity references.
 * Enough for what renderChart emits (no comments, CDATA or prolog).
 */
function assertWellFormed(xml: string): void {
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (t: string, where: string) => {
    assert.ok(!/[<&]/.test(t.replace(entity, '')), `bare < or & in ${where}: ${JSON.stringify(t)}`);
  };
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  while (pos < xml.length) {
    const open = xml.indexOf('<', pos);
    const text = xml.slice(pos, open < 0 ? xml.length : open);
    if (stack.length === 0) assert.match(text, /^\s*$/, 'text outside the root element');
    checkText(text, 'text');
    if (open < 0) break;
    const close = xml.indexOf('>', open);
    assert.ok(close > 0, `unterminated tag at ${open}`);
    const tag = xml.slice(open, close + 1);
    const m = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>$/.exec(tag);
    assert.ok(m, `malformed tag ${tag}`);
    const [, end, name, attrs, selfClosing] = m;
    const names = [...attrs!.matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, k, v]) => {
      checkText(v!, `attribute ${k} of <${name}>`);
      return k;
    });
    assert.equal(new Set(names).size, names.length, `repeated attribute in ${tag}`);
    if (end) {
      assert.ok(!attrs && !selfClosing, `closing tag with attributes: ${tag}`);
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name!);
    }
    pos = close + 1;
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'one root element');
}

const line = (ys: number[], xs = [1, 1000, 10000]) => xs.map((x, i) => ({ x, y: ys[i]! }));

const SERVICES: ChartPanel = {
  title: 'Services: new connections per second', xLabel: 'services on the node', yLabel: 'connections/s', xLog: true,
  series: [
    { name: 'membrane', points: line([12561, 12249, 12620]) },
    { name: 'iptables-nft', points: line([11850, 8992, 3384]) },
    { name: 'direct pod IP', dashed: true, points: line([12699, 11933, 13078]) },
  ],
};
const CHANGE: ChartPanel = {
  title: 'One change applied', xLabel: 'services', yLabel: 'ms', xLog: true, yLog: true,
  series: [{ name: 'membrane', points: line([3, 2.9, 5.7]) }, { name: 'iptables-nft', points: line([28, 62, 924]) }],
};

/** The text of every <text> element (tspans joined). */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ''));

describe('benchmark chart', () => {
  it('has a well-formedness check that finds what it should', () => {
    for (const bad of ['<a><b></a></b>', '<a>x & y</a>', '<a x="1" x="2"/>', '<a/><b/>', '<a>', '<a x=1/>', '<a t="<"/>']) {
      assert.throws(() => assertWellFormed(bad), bad);
    }
    assertWellFormed('<a x="1"><b>x &amp; y &#60;</b><c/></a>\n');
  });

  it('is one well-formed, self-contained SVG document GitHub can show', () => {
    const svg = renderChart([SERVICES, CHANGE], { title: 'membrane benchmarks' });
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+" font-family="sans-serif">/);
    assert.match(svg, /<rect width="\d+" height="\d+" fill="#fff"\/>/, 'white background');
    assert.doesNotMatch(svg, /<script|href=|url\(|@import|<image|<foreignObject/i);
    assert.equal(svg.match(/http/g)!.length, 1, 'no link but the namespace');
    assert.ok(texts(svg).includes('membrane benchmarks'));
  });

  it('draws each panel with its title, axis labels, a line and markers per series, and a legend', () => {
    const svg = renderChart([SERVICES]);
    for (const t of ['Services: new connections per second', 'services on the node', 'connections/s', 'membrane', 'iptables-nft', 'direct pod IP']) {
      assert.ok(texts(svg).includes(t), t);
    }
    assert.equal(svg.match(/<path d="M[^"]*" fill="none" stroke="#[0-9A-F]{6}" stroke-width="2"/g)!.length, 3);
    assert.equal(svg.match(/stroke-dasharray="6 4"/g)!.length, 2, 'the dashed series and its legend swatch');
  });

  it('escapes names for XML', () => {
    const name = 'a<b & c/d "quoted" \'x\' >';
    const svg = renderChart([{ ...SERVICES, title: '<script>alert(1)</script>', series: [{ name, points: line([1, 2, 3]) }] }], { title: 'R&D <chart>' });
    assertWellFormed(svg);
    assert.ok(svg.includes('a&lt;b &amp; c/d &quot;quoted&quot; &apos;x&apos; &gt;'));
    assert.ok(!svg.includes('<script>'));
    assert.ok(svg.includes('<title>R&amp;D &lt;chart&gt;</title>'));
    assert.equal(escapeXml('bell\u0007'), 'bell', 'characters XML forbids are dropped');
  });

  it('puts log ticks at powers of ten, labelled 1, 10, 100, 1k, 10k', () => {
    assert.deepEqual(logTicks(1, 10000), [1, 10, 100, 1000, 10000]);
    assert.deepEqual(logTicks(3, 4000), [1, 10, 100, 1000, 10000]);
    assert.deepEqual(logTicks(0.002, 0.5), [0.001, 0.01, 0.1, 1]);
    assert.deepEqual(logTicks(100, 100), [10, 100, 1000], 'a single value gets the decades either side');
    assert.deepEqual(logTicks(1, 1e20), [1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18, 1e21], 'many decades: every third');
    assert.deepEqual([1, 10, 100, 1000, 10000].map(formatTick), ['1', '10', '100', '1k', '10k']);
    const svg = renderChart([SERVICES]);
    for (const t of ['1', '10', '100', '1k', '10k']) assert.ok(texts(svg).includes(t), t);
  });

  it('puts linear ticks at nice steps from zero', () => {
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0, 0.93), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0, 60910), [0, 20000, 40000, 60000, 80000]);
    assert.deepEqual(niceTicks(0, 13078), [0, 5000, 10000, 15000]);
    assert.deepEqual(niceTicks(0, 11000), [0, 2500, 5000, 7500, 10000, 12500]);
    assert.deepEqual(niceTicks(0.1, 0.5), [0.1, 0.2, 0.3, 0.4, 0.5], 'no 0.30000000000000004');
    assert.deepEqual(niceTicks(-3, 7), [-4, -2, 0, 2, 4, 6, 8]);
    assert.deepEqual(niceTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual([0, 0.2, 2500, 12500, 2_000_000, 1.5e9].map(formatTick), ['0', '0.2', '2.5k', '12.5k', '2M', '1.5G']);
    const svg = renderChart([SERVICES]);
    for (const t of ['0', '5k', '10k', '15k']) assert.ok(texts(svg).includes(t), t);
  });

  it('draws the goal line with its label, the y axis reaching it', () => {
    const panel: ChartPanel = { title: 'L7', xLabel: 'run', yLabel: 'ratio', series: [{ name: 'L7', points: [{ x: 1, y: 0.18 }, { x: 2, y: 0.21 }] }], goal: { y: 0.5, label: 'goal: half of L3/L4 & more' } };
    const svg = renderChart([panel]);
    assertWellFormed(svg);
    assert.equal(svg.match(/stroke-dasharray="8 3 2 3"/g)!.length, 1);
    assert.ok(texts(svg).includes('goal: half of L3/L4 &amp; more'));
    assert.ok(texts(svg).includes('0.5'), 'the axis goes up to the goal');
    assert.doesNotMatch(renderChart([{ ...panel, goal: undefined }]), /8 3 2 3/);
  });

  it('says "no data" for a panel with nothing to draw, and draws the others', () => {
    const empty: ChartPanel = { title: 'Nothing yet', xLabel: 'x', yLabel: 'y', series: [] };
    const unusable: ChartPanel = { title: 'Unusable', xLabel: 'x', yLabel: 'y', yLog: true, series: [{ name: 's', points: [{ x: NaN, y: 1 }, { x: 1, y: 0 }, { x: 2, y: -5 }] }] };
    const svg = renderChart([empty, unusable, SERVICES]);
    assertWellFormed(svg);
    assert.equal(texts(svg).filter((t) => t === 'no data').length, 2);
    assert.ok(texts(svg).includes('membrane'));
    assertWellFormed(renderChart([]));
    assert.ok(texts(renderChart([])).includes('no data'));
  });

  it('leaves out non-finite points and marks an empty series in the legend', () => {
    const panel: ChartPanel = {
      title: 'Gaps', xLabel: 'x', yLabel: 'y',
      series: [{ name: 'some', points: [{ x: 1, y: 1 }, { x: NaN, y: 2 }, { x: 3, y: Infinity }, { x: 4, y: 4 }] }, { name: 'none', points: [] }],
    };
    const svg = renderChart([panel]);
    assertWellFormed(svg);
    assert.doesNotMatch(svg, /NaN|Infinity/);
    const d = /<path d="(M[^"]*)" fill="none" stroke="#[0-9A-F]{6}"/.exec(svg)![1]!;
    assert.equal(d.match(/[ML]/g)!.length, 2);
    assert.ok(texts(svg).includes('none (no data)'));
  });

  it('gives a series name one colour in every panel, and different names different colours', () => {
    const svg = renderChart([SERVICES, CHANGE]);
    const colourOf = (name: string) => {
      const i = svg.indexOf(`>${name}</text>`);
      return [...svg.slice(0, i).matchAll(/stroke="(#[0-9A-F]{6})"/g)].at(-1)![1];
    };
    assert.notEqual(colourOf('membrane'), colourOf('iptables-nft'));
    const strokes = (s: string) => [...s.matchAll(/<path d="M[^"]*" fill="none" stroke="(#[0-9A-F]{6})"/g)].map((m) => m[1]);
    assert.deepEqual(strokes(svg).slice(3), strokes(svg).slice(0, 2), 'the second panel reuses the first one\'s colours');
  });

  it('lays the panels out in the columns asked for', () => {
    const width = (s: string) => Number(/width="(\d+)"/.exec(s)![1]);
    const height = (s: string) => Number(/height="(\d+)"/.exec(s)![1]);
    const two = renderChart([SERVICES, CHANGE, SERVICES]);
    const one = renderChart([SERVICES, CHANGE, SERVICES], { columns: 1 });
    assert.ok(width(one) < width(two) && height(one) > height(two));
    assert.equal(width(renderChart([SERVICES], { columns: NaN })), width(renderChart([SERVICES])));
    assert.equal(two.match(/<g transform="translate\(\d+ \d+\)">/g)!.length, 3);
  });

  it('gives the same bytes for the same figures', () => {
    const a = renderChart([SERVICES, CHANGE], { title: 't' });
    const b = renderChart(structuredClone([SERVICES, CHANGE]), { title: 't' });
    assert.equal(a, b);
    assert.match(a, /\n$/);
  });
});
