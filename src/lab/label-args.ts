import { ValidationError } from '../common/errors.js';
import { checkLabelKey, checkLabelValue } from './manifest-fields.js';

/**
 * `lab label`'s arguments, read as `kubectl label` reads them: a target
 * (`NS/POD`, `POD`, or `ns/NAME` for a namespace), then `key=value` to set
 * and `key-` to remove. Pure: deciding the new label map happens here, the
 * lab only stores and pushes it.
 */

/** The label Kubernetes keeps equal to a namespace's name; nobody else may change it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type LabelTarget =
  | { kind: 'pod'; namespace: string; name: string }
  | { kind: 'namespace'; name: string };

/** Prefixes that make the target a namespace rather than a pod in the namespace of that name. */
const NAMESPACE_PREFIXES = new Set(['ns', 'namespace', 'namespaces']);

/**
 * Reads the target: `ns/NAME` (or `namespace/`, `namespaces/`) is a
 * namespace, `NS/POD` a pod, a bare `POD` a pod in `defaultNamespace`. A pod
 * in a namespace called "ns" is reached with `-n ns POD`.
 */
export function parseLabelTarget(ref: string, defaultNamespace = 'default'): LabelTarget {
  const parts = ref.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw new ValidationError('target', `"${ref}" is neither NS/POD, POD nor ns/NAME`);
  }
  if (parts.length === 1) return { kind: 'pod', namespace: defaultNamespace, name: parts[0]! };
  const [prefix, name] = parts as [string, string];
  if (NAMESPACE_PREFIXES.has(prefix)) return { kind: 'namespace', name };
  return { kind: 'pod', namespace: prefix, name };
}

export interface LabelChange {
  key: string;
  /** undefined: remove the label (`key-`). */
  value: string | undefined;
  /** The argument as given, for messages. */
  arg: string;
}

function argPath(arg: string): string {
  return `label argument "${arg}"`;
}

/** Reads `key=value` and `key-` arguments; throws a ValidationError naming the first bad one. */
export function parseLabelArgs(args: string[]): LabelChange[] {
  if (args.length === 0) throw new ValidationError('labels', 'at least one label update is required: key=value to set, key- to remove');
  const changes: LabelChange[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    let change: LabelChange;
    if (eq >= 0) change = { key: arg.slice(0, eq), value: arg.slice(eq + 1), arg };
    else if (arg.endsWith('-')) change = { key: arg.slice(0, -1), value: undefined, arg };
    else throw new ValidationError(argPath(arg), 'is neither key=value (set a label) nor key- (remove one)');
    checkLabelKey(change.key, argPath(arg));
    if (change.value !== undefined) checkLabelValue(change.value, argPath(arg));
    const earlier = changes.find((c) => c.key === change.key);
    if (earlier && earlier.value !== change.value) {
      throw new ValidationError(argPath(arg), `conflicts with "${earlier.arg}": a label can be set or removed once per command`);
    }
    if (!earlier) changes.push(change);
  }
  return changes;
}

export interface LabelUpdate {
  labels: Record<string, string>;
  /** Whether `labels` differ from the current ones (kubectl says "not labeled" otherwise). */
  changed: boolean;
  /** Keys asked to be removed that were not there (kubectl warns about them). */
  missing: string[];
}

export interface LabelUpdateOptions {
  /** Allow changing a label's existing value (kubectl's --overwrite). */
  overwrite: boolean;
  /** Keys that must not be set or removed (a namespace's name label), with why. */
  reserved?: Record<string, string>;
}

/**
 * The labels after the changes. Throws, changing nothing, when a change
 * would alter an existing value without `overwrite` or touch a reserved key.
 */
export function updateLabels(current: Record<string, string>, changes: LabelChange[], opts: LabelUpdateOptions): LabelUpdate {
  const labels = { ...current };
  const missing: string[] = [];
  for (const c of changes) {
    const why = opts.reserved?.[c.key];
    if (why !== undefined) throw new ValidationError(argPath(c.arg), `label "${c.key}" cannot be changed: ${why}`);
    if (c.value === undefined) {
      if (c.key in labels) delete labels[c.key];
      else missing.push(c.key);
      continue;
    }
    const old = labels[c.key];
    if (old !== undefined && old !== c.value && !opts.overwrite) {
      throw new ValidationError(argPath(c.arg), `label "${c.key}" already has the value "${old}": pass --overwrite to change it`);
    }
    labels[c.key] = c.value;
  }
  const keys = (o: Record<string, string>) => Object.keys(o).sort();
  const changed = keys(labels).join('\0') !== keys(current).join('\0') || keys(labels).some((k) => labels[k] !== current[k]);
  return { labels, changed, missing };
}
