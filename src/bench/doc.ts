/**
 * docs/benchmarks.md as sections: a run of some benchmark areas replaces
 * just their `## ` sections and keeps the others, each of which says when
 * and on what machine it was measured. Pure (text in, text out).
 */

export interface DocSection {
  /** The `## ` heading's text, e.g. "Services". */
  title: string;
  /** The whole section, heading included, ending with a newline. */
  text: string;
}

export const DOC_HEAD = '# membrane benchmarks\n\n' +
  'Measured by `npm run bench` (every area) or `npm run bench -- AREA...` (those areas\' sections only, the others kept). ' +
  'Each section says when and on what machine it was measured; every figure in a section is from that one run, ' +
  'and its ratios are against a baseline measured in the same run. The scaling curves of every section are drawn in ' +
  '[benchmarks.svg](benchmarks.svg) (its data: benchmarks.json).\n\n![membrane benchmarks: scaling curves](benchmarks.svg)\n';

/** The sentence that opens a section's first paragraph. */
export function measuredOn(date: string, machine: string): string {
  return `Measured on ${date} (${machine}).`;
}

/** Splits a document into what precedes the first `## ` heading and its sections. */
export function splitSections(doc: string): { head: string; sections: DocSection[] } {
  const lines = doc.split('\n');
  const starts = lines.flatMap((l, i) => (l.startsWith('## ') ? [i] : []));
  const head = lines.slice(0, starts[0] ?? lines.length).join('\n');
  const sections = starts.map((s, j) => {
    const body = lines.slice(s, starts[j + 1] ?? lines.length).join('\n').replace(/\n*$/, '\n');
    return { title: lines[s]!.slice(3).trim(), text: body };
  });
  return { head, sections };
}

/**
 * A section kept from a document written before sections carried their own
 * date: the old head's "on <date>: <machine>." goes into its first paragraph.
 */
function dated(section: DocSection, oldHead: string): DocSection {
  if (section.text.includes('Measured on ')) return section;
  const m = /on (\d{4}-\d{2}-\d{2}): ([^\n]+?)\. Every figure/.exec(oldHead);
  if (!m) return section;
  return { ...section, text: section.text.replace(/^(## [^\n]*\n\n)/, `$1${measuredOn(m[1]!, m[2]!)} `) };
}

/**
 * The document with `fresh` sections in place of those of the same title in
 * `existing` (undefined: no document yet); other sections are kept in their
 * order, new ones appended in the order given.
 */
export function mergeSections(existing: string | undefined, fresh: readonly DocSection[]): string {
  const old = splitSections(existing ?? '');
  const byTitle = new Map(fresh.map((s) => [s.title, s]));
  const out: DocSection[] = old.sections.map((s) => byTitle.get(s.title) ?? dated(s, old.head));
  for (const s of fresh) if (!old.sections.some((o) => o.title === s.title)) out.push(s);
  return `${DOC_HEAD}\n${out.map((s) => s.text).join('\n')}`;
}
