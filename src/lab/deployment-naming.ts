import { randomInt } from 'node:crypto';
import type { PodSpec } from './manifest.js';

/**
 * Names of a Deployment's pods, shaped as Kubernetes shapes them:
 * `<deployment>-<pod-template-hash>-<5 random>`, e.g. `deathstar-6fb5694d48-5hmds`,
 * with characters from Kubernetes' "safe" alphabet (no vowels, no look-alikes). Pure.
 */

/** The alphabet Kubernetes uses for generated name parts. */
export const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** 32-bit FNV-1a. */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** JSON with object keys sorted, so equal specs hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The pod-template-hash: 10 safe characters from the hash of the template's
 * pod spec. Labels are left out on purpose: relabelling a Deployment's
 * template relabels its pods in place (a new identity, no restart), while a
 * changed container replaces them.
 */
export function podTemplateHash(spec: PodSpec): string {
  const digits = String(fnv1a32(canonicalJson(spec))).padStart(10, '0');
  return [...digits].map((d) => SAFE_ALPHABET[d.charCodeAt(0) % SAFE_ALPHABET.length]).join('');
}

export function randomSuffix(length = 5, rand: (n: number) => number = randomInt): string {
  let s = '';
  for (let i = 0; i < length; i++) s += SAFE_ALPHABET[rand(SAFE_ALPHABET.length)];
  return s;
}

/** A new pod name for a Deployment, distinct from every name in `taken`. */
export function deploymentPodName(
  deployment: string, templateHash: string, taken: ReadonlySet<string>, rand: (n: number) => number = randomInt,
): string {
  for (;;) {
    const name = `${deployment}-${templateHash}-${randomSuffix(5, rand)}`;
    if (!taken.has(name)) return name;
  }
}
