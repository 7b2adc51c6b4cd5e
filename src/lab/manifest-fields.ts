import { ValidationError } from '../common/errors.js';

/**
 * Field readers for manifest validation: each takes the value and its path
 * (`spec.containers[0].ports[1].containerPort`) and throws a ValidationError
 * naming that path when the value does not fit. Pure.
 */

export type Obj = Record<string, unknown>;

export function join(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${JSON.stringify(v)}`;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readObj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new ValidationError(path, `must be a mapping, got ${typeName(v)}`);
  return v;
}

export function optObj(parent: Obj, key: string, path: string): Obj | undefined {
  const v = parent[key];
  return v === undefined || v === null ? undefined : readObj(v, join(path, key));
}

export function readList(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new ValidationError(path, `must be a list, got ${typeName(v)}`);
  return v;
}

export function optList(parent: Obj, key: string, path: string): unknown[] {
  const v = parent[key];
  return v === undefined || v === null ? [] : readList(v, join(path, key));
}

export function readString(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new ValidationError(path, `must be a string, got ${typeName(v)} (quote it in YAML)`);
  return v;
}

export function optString(parent: Obj, key: string, path: string): string | undefined {
  const v = parent[key];
  return v === undefined || v === null ? undefined : readString(v, join(path, key));
}

export function requiredString(parent: Obj, key: string, path: string): string {
  const v = parent[key];
  if (v === undefined || v === null || v === '') throw new ValidationError(join(path, key), 'is required');
  return readString(v, join(path, key));
}

export function readInt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(path, `must be an integer from ${min} to ${max}, got ${typeName(v)}`);
  }
  return v;
}

export function readStringList(v: unknown, path: string): string[] {
  return readList(v, path).map((s, i) => readString(s, join(path, i)));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A DNS-1123 label (namespace, container and port names), as Kubernetes requires. */
export function checkDnsLabel(v: string, path: string, max = 63): string {
  if (v.length > max || !DNS_LABEL.test(v)) {
    throw new ValidationError(path, `invalid name "${v}": use at most ${max} lowercase letters, digits and "-", starting and ending with a letter or digit`);
  }
  return v;
}

/** A DNS-1123 subdomain (object names), as Kubernetes requires. */
export function checkDnsSubdomain(v: string, path: string, max = 253): string {
  if (v.length > max || !DNS_SUBDOMAIN.test(v)) {
    throw new ValidationError(path, `invalid name "${v}": use at most ${max} lowercase letters, digits, "-" and ".", starting and ending with a letter or digit`);
  }
  return v;
}

/** A label key (`[prefix/]name`), as Kubernetes validates it. */
export function checkLabelKey(key: string, path: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    throw new ValidationError(path, `invalid label key "${key}": the prefix before "/" must be a DNS subdomain`);
  }
  if (name.length > 63 || !LABEL_NAME.test(name)) {
    throw new ValidationError(path, `invalid label key "${key}": the name must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
}

/** A label value (empty, or up to 63 characters), as Kubernetes validates it. */
export function checkLabelValue(value: string, path: string): string {
  if (value !== '' && (value.length > 63 || !LABEL_NAME.test(value))) {
    throw new ValidationError(path, `invalid label value "${value}": use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
  return value;
}

/** A label map (metadata.labels, selector.matchLabels): string keys and values, as Kubernetes validates them. */
export function readLabels(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = readObj(v, path);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(o)) {
    const at = join(path, key);
    checkLabelKey(key, at);
    out[key] = checkLabelValue(readString(value, at), at);
  }
  return out;
}
