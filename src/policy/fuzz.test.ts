/**
 * Fuzzing the policy parser with thousands of seeded random and mutated
 * policies (src/testing/policy-fuzz.ts): it never throws anything but an
 * EINVAL error whose path names a field of the input, it accepts every
 * valid policy of the grammar (and resolution of those never throws), and a
 * batch with one bad document changes nothing in the repository.
 * A failure names the case's seed: `FUZZ_SEED=<n>` runs that one again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { fuzzCase, Rng, validPolicy, type FuzzCase } from '../testing/policy-fuzz.js';
import { parsePolicyText } from './parse.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';
import type { ParsedPolicy } from './types.js';

const CASES = Number(process.env['FUZZ_CASES'] ?? 2000);
const ONLY_SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
const BASE_SEED = 0x5eed_0000;

const pod = (podLabels: Record<string, string>, namespace = 'default') =>
  buildPodLabels({ namespace, podLabels, namespaceLabels: { team: 'a' }, serviceAccount: 'default', clusterName: 'default' }).identityLabels;

const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  { id: 256, labels: pod({ app: 'web' }) },
  { id: 257, labels: pod({ app: 'friend', tier: 'db' }, 'team-a') },
  { id: 258, labels: pod({ 'app.kubernetes.io/name': 'x-1', role: 'prod' }, 'kube-system') },
  { id: 16777217, labels: LabelSet.parse(['cidr:10.0.0.0/8', 'reserved:world']) },
];
const namedPorts = new Map([['http', { port: 80, protocol: 'TCP' as const }], ['dns', { port: 53, protocol: 'UDP' as const }]]);

/** Splits a rendered field path (`[1].spec.ingress[0].matchLabels["a.b"]`) into its segments; throws when it is malformed. */
export function splitFieldPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  let rest = path;
  while (rest !== '') {
    let m: RegExpMatchArray | null;
    if ((m = /^\[(\d+)\]/.exec(rest))) out.push(Number(m[1]));
    else if ((m = /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest))) out.push(JSON.parse(m[1]!) as string);
    else if ((m = (out.length === 0 ? /^([A-Za-z_$][\w$-]*)/ : /^\.([A-Za-z_$][\w$-]*)/).exec(rest))) out.push(m[1]!);
    else throw new Error(`malformed field path ${JSON.stringify(path)} at ${JSON.stringify(rest.slice(0, 40))}`);
    rest = rest.slice(m[0].length);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string | number, unknown> => typeof v === 'object' && v !== null;
const has = (v: unknown, k: string | number) => isObject(v) && Object.prototype.hasOwnProperty.call(v, k);

/**
 * Checks that an error path names a place in the input: every segment but the
 * last exists, and the last exists or is a missing field of an existing
 * mapping (a required field that was left out). Returns a problem or undefined.
 */
function pathProblem(c: FuzzCase, path: string): string | undefined {
  if (!c.docs) return undefined;
  let segs = splitFieldPath(path);
  let doc: unknown = c.docs[0];
  if (c.docs.length > 1) {
    if (typeof segs[0] !== 'number') return `a multi-document error path must start with [i]: ${path}`;
    if (segs[0] >= c.docs.length) return `document index ${segs[0]} but there are ${c.docs.length}`;
    doc = c.docs[segs[0]];
    segs = segs.slice(1);
  }
  let at: unknown = doc;
  for (let i = 0; i < segs.length; i++) {
    const k = segs[i]!;
    if (has(at, k)) { at = (at as Record<string | number, unknown>)[k]; continue; }
    if (i === segs.length - 1 && isObject(at) && !Array.isArray(at)) return undefined; // a missing required field
    return `segment ${i} (${JSON.stringify(k)}) of ${path} is not in the input`;
  }
  return undefined;
}

function check(c: FuzzCase, seed: number): ParsedPolicy[] | undefined {
  const where = `seed ${seed} (${c.what}); text:\n${c.text.slice(0, 1500)}`;
  let parsed: ParsedPolicy[] | undefined;
  try {
    parsed = parsePolicyText(c.text);
  } catch (err) {
    assert.ok(err instanceof MembraneError, `threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack}\n${where}`);
    assert.equal(err.code, 'EINVAL', `${err.message}\n${where}`);
    assert.equal(typeof err.path, 'string', `no path: ${err.message}\n${where}`);
    const path = err.path!;
    assert.ok(c.expect !== 'valid', `a valid policy was refused: ${err.message}\n${where}`);
    if (path !== '') assert.ok(err.message.startsWith(`${path}: `), `the message does not start with the path ${path}: ${err.message}`);
    if (c.badDoc !== undefined) assert.ok(path.startsWith(`[${c.badDoc}]`), `error for document ${c.badDoc} names ${path}: ${err.message}\n${where}`);
    else if (path !== '') splitFieldPath(path);
    const problem = pathProblem(c, path);
    assert.equal(problem, undefined, `${problem}: ${err.message}\n${where}`);
    return undefined;
  }
  assert.ok(c.expect !== 'invalid', `an invalid policy was accepted\n${where}`);
  return parsed;
}

function resolveAll(policies: ParsedPolicy[], where: string): void {
  const repository = new PolicyRepository();
  repository.import(policies);
  for (const subject of identities.slice(-4, -1)) {
    for (const enforcement of subject.id === 256 ? ['default', 'always'] as const : ['default'] as const) {
      try {
        resolveEndpointPolicy({ endpointLabels: subject.labels, repository, identities, enforcement, namedPorts, clusterName: 'default' });
      } catch (err) {
        assert.fail(`resolving for identity ${subject.id} threw ${(err as Error).stack}\n${where}`);
      }
    }
  }
}

const seeds = ONLY_SEED !== undefined ? [ONLY_SEED] : Array.from({ length: CASES }, (_, i) => BASE_SEED + i);

describe('policy parser fuzz', () => {
  it(`refuses ${seeds.length} random and mutated policy texts only with EINVAL naming a path of the input, and accepts the valid ones`, () => {
    const tally = { valid: 0, refused: 0, eitherAccepted: 0 };
    const started = Date.now();
    for (const seed of seeds) {
      const c = fuzzCase(new Rng(seed));
      const parsed = check(c, seed);
      if (parsed) {
        if (c.expect === 'valid') tally.valid++;
        else tally.eitherAccepted++;
        resolveAll(parsed, `seed ${seed} (${c.what})`);
      } else tally.refused++;
    }
    // The generator must exercise both sides, or the test proves little.
    if (ONLY_SEED === undefined) {
      assert.ok(tally.valid > seeds.length / 8, `only ${tally.valid} valid cases`);
      assert.ok(tally.refused > seeds.length / 2, `only ${tally.refused} refused cases`);
    }
    process.stdout.write(`# fuzz: ${JSON.stringify(tally)} in ${Date.now() - started} ms\n`);
  });

  it('generates the same text from the same seed', () => {
    for (let s = 0; s < 50; s++) assert.equal(fuzzCase(new Rng(s)).text, fuzzCase(new Rng(s)).text);
  });

  it('accepts every generated valid policy of each kind on its own', () => {
    const rng = new Rng(7);
    for (const kind of ['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy'] as const) {
      for (let i = 0; i < 150; i++) {
        const doc = validPolicy(rng, {}, kind);
        const text = JSON.stringify(doc);
        let parsed: ParsedPolicy[];
        try {
          parsed = parsePolicyText(text);
        } catch (err) {
          assert.fail(`${kind} #${i} refused: ${(err as Error).message}\n${text}`);
        }
        resolveAll(parsed, text);
      }
    }
  });

  it('leaves the repository unchanged when a batch holds one invalid document', () => {
    const repo = new PolicyRepository();
    const rng = new Rng(11);
    repo.import(parsePolicyText(JSON.stringify(Array.from({ length: 5 }, () => validPolicy(rng)))));
    const snapshot = () => JSON.stringify(repo.toListModel());
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const seed = BASE_SEED + 1_000_000 + i;
      const c = fuzzCase(new Rng(seed), { names: ['a', 'b', 'c', 'd', 'e', 'f'] });
      const before = { revision: repo.revision, list: snapshot() };
      try {
        repo.import(parsePolicyText(c.text));
      } catch (err) {
        refused++;
        assert.ok(err instanceof MembraneError && err.code === 'EINVAL', `seed ${seed}: ${(err as Error).stack}`);
        assert.equal(repo.revision, before.revision, `seed ${seed}: the revision moved`);
        assert.equal(snapshot(), before.list, `seed ${seed}: the policy list changed`);
      }
    }
    assert.ok(refused > 150);
  });

  it('refuses a parsed batch naming one policy twice without changing anything', () => {
    const repo = new PolicyRepository();
    const rng = new Rng(13);
    for (let i = 0; i < 60; i++) {
      const parsed = parsePolicyText(JSON.stringify(Array.from({ length: 3 }, () => validPolicy(rng))));
      const before = { revision: repo.revision, list: JSON.stringify(repo.toListModel()) };
      assert.throws(() => repo.import([...parsed, parsed[rng.int(parsed.length)]!]), (err: MembraneError) => err.code === 'EINVAL' && /^\[3\]$/.test(err.path ?? ''));
      assert.equal(repo.revision, before.revision);
      assert.equal(JSON.stringify(repo.toListModel()), before.list);
      repo.import(parsed);
    }
  });

  // Found by this fuzzer: a plain object turns a `__proto__` key into its prototype, so the key would silently
  // vanish and the selector match more than written.
  it('refuses a `__proto__` label key instead of dropping it (which would widen the selector)', () => {
    const text = JSON.stringify({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'p' },
      spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [JSON.parse('{"matchLabels":{"__proto__":"nobody"}}')] }] } });
    assert.throws(() => parsePolicyText(text),
      (err: MembraneError) => err.code === 'EINVAL' && err.path === 'spec.ingress[0].fromEndpoints[0].matchLabels.__proto__');
  });

  it('refuses deeply nested or oversized text before parsing it, quickly', () => {
    const t0 = Date.now();
    assert.throws(() => parsePolicyText('{a: '.repeat(200_000)), /nested deeper than 256/);
    assert.throws(() => parsePolicyText('x'.repeat(5 * 1024 * 1024)), /at most 4194304/);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });
});
