/**
 * Labels with a source, as Cilium writes them: `source:key=value`
 * (`k8s:app=web`, `reserved:host`, `cidr:10.0.0.0/8`). A LabelSet is the
 * immutable, sorted, de-duplicated set an endpoint or identity carries; its
 * canonical string is what identities are keyed by.
 */
import { ValidationError } from '../common/errors.js';

/** Label sources membrane knows. `any` is only meaningful in selectors, where it matches every source. */
export const LabelSource = {
  K8s: 'k8s',
  Reserved: 'reserved',
  Cidr: 'cidr',
  CidrGroup: 'cidrgroup',
  Any: 'any',
  Unspec: 'unspec',
} as const;

/**
 * Every prefix that is read as a source when it stands before the first colon.
 * Other text before a colon stays part of the key, so keys such as `foo:bar`
 * survive; the extra names are sources Cilium itself uses.
 */
const KNOWN_SOURCES: ReadonlySet<string> = new Set([
  ...Object.values(LabelSource), 'fqdn', 'cidrgroup', 'node', 'cni', 'gen', 'directory', 'container',
]);

export function isKnownSource(source: string): boolean {
  return KNOWN_SOURCES.has(source);
}

export interface Label {
  readonly source: string;
  readonly key: string;
  /** Empty for value-less labels such as `reserved:host`. */
  readonly value: string;
}

/**
 * Splits `source:key` into its parts when the text before the first colon is a
 * known source; otherwise the whole text is the key and `defaultSource` applies.
 */
export function splitSource(text: string, defaultSource: string): { source: string; key: string } {
  const colon = text.indexOf(':');
  if (colon > 0 && isKnownSource(text.slice(0, colon))) {
    return { source: text.slice(0, colon), key: text.slice(colon + 1) };
  }
  return { source: defaultSource, key: text };
}

/**
 * Parses `source:key=value`, `key=value`, `source:key` or `key`.
 * Throws ValidationError when the key is empty.
 */
export function parseLabel(text: string, defaultSource: string = LabelSource.Unspec): Label {
  const eq = text.indexOf('=');
  const head = eq >= 0 ? text.slice(0, eq) : text;
  const value = eq >= 0 ? text.slice(eq + 1) : '';
  const { source, key } = splitSource(head, defaultSource);
  if (key === '') throw new ValidationError('', `label "${text}" has an empty key; write it as source:key=value`);
  return { source, key, value };
}

/** `k8s:app=x`, or `reserved:host` when the value is empty. */
export function formatLabel(label: Label): string {
  return label.value === '' ? `${label.source}:${label.key}` : `${label.source}:${label.key}=${label.value}`;
}

export function label(source: string, key: string, value = ''): Label {
  return { source, key, value };
}

/**
 * An immutable set of labels, at most one per (source, key), sorted by their
 * formatted text. When the input repeats a (source, key), the last one wins.
 */
export class LabelSet implements Iterable<Label> {
  static readonly EMPTY = new LabelSet([]);

  private readonly labels: readonly Label[];
  private readonly byKey: ReadonlyMap<string, readonly Label[]>;
  private readonly text: readonly string[];

  private constructor(labels: Iterable<Label>) {
    const unique = new Map<string, Label>();
    for (const l of labels) unique.set(`${l.source}\u0000${l.key}`, { source: l.source, key: l.key, value: l.value });
    const sorted = [...unique.values()].map((l) => ({ l, s: formatLabel(l) }));
    sorted.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
    this.labels = Object.freeze(sorted.map((x) => Object.freeze(x.l)));
    this.text = Object.freeze(sorted.map((x) => x.s));
    const byKey = new Map<string, Label[]>();
    for (const l of this.labels) byKey.set(l.key, [...(byKey.get(l.key) ?? []), l]);
    this.byKey = byKey;
  }

  static of(labels: Iterable<Label>): LabelSet {
    return new LabelSet(labels);
  }

  /** Parses `source:key=value` strings; labels without a source get `defaultSource`. */
  static parse(texts: Iterable<string>, defaultSource: string = LabelSource.Unspec): LabelSet {
    return new LabelSet([...texts].map((t) => parseLabel(t, defaultSource)));
  }

  /** Builds a set from a `{key: value}` record, all with one source (e.g. pod labels with `k8s`). */
  static fromRecord(record: Record<string, string>, source: string): LabelSet {
    return new LabelSet(Object.entries(record).map(([key, value]) => ({ source, key, value })));
  }

  get size(): number {
    return this.labels.length;
  }

  [Symbol.iterator](): Iterator<Label> {
    return this.labels[Symbol.iterator]();
  }

  toArray(): readonly Label[] {
    return this.labels;
  }

  /** True when a label with this key (and source, if given; `any` matches every source) is present, optionally with this value. */
  has(key: string, source?: string, value?: string): boolean {
    return this.getAll(key, source).some((l) => value === undefined || l.value === value);
  }

  /** The label with this key from `source` (any source when omitted or `any`); the first by sort order if several. */
  get(key: string, source?: string): Label | undefined {
    return this.getAll(key, source)[0];
  }

  /** Every label with this key from `source` (every source when omitted or `any`). */
  getAll(key: string, source?: string): readonly Label[] {
    const all = this.byKey.get(key) ?? [];
    if (source === undefined || source === LabelSource.Any) return all;
    return all.filter((l) => l.source === source);
  }

  /** Sorted `source:key=value` strings. */
  toStrings(): string[] {
    return [...this.text];
  }

  /** A string that is equal for equal sets and different otherwise, for use as a map key. */
  canonical(): string {
    return this.text.join('\n');
  }

  equals(other: LabelSet): boolean {
    return this.canonical() === other.canonical();
  }

  /** A new set with these labels added (replacing labels with the same source and key). */
  with(labels: Iterable<Label>): LabelSet {
    return new LabelSet([...this.labels, ...labels]);
  }

  filter(predicate: (l: Label) => boolean): LabelSet {
    return new LabelSet(this.labels.filter(predicate));
  }

  toString(): string {
    return this.text.join(' ');
  }

  toJSON(): string[] {
    return this.toStrings();
  }
}
