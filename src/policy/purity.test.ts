/**
 * Keeps the pure folders pure: labels/, identity/ and policy/ decide things
 * and must not do I/O, so their modules may import only each other, the
 * shared error and API types, zod, yaml and side-effect-free node modules.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const ALLOWED = [/^\.\.?\//, /^zod$/, /^yaml$/, /^node:net$/];
// The L7 proxy's rule compiler is pure too: policies are validated with the very code that enforces them.
const ALLOWED_RELATIVE = [/^\.\/[\w.-]+\.js$/, /^\.\.\/(labels|identity|policy|api\/types|common\/errors|l7\/http-rules|l7\/posix-regex)(\/[\w.-]+)?\.js$/];

describe('pure policy core', () => {
  for (const folder of ['labels', 'identity', 'policy']) {
    it(`${folder}/ imports no I/O module`, () => {
      const dir = new URL(`../${folder}/`, import.meta.url);
      const modules = readdirSync(dir).filter((f) => f.endsWith('.js') && !f.endsWith('.test.js'));
      assert.ok(modules.length > 0);
      for (const file of modules) {
        const source = readFileSync(new URL(file, dir), 'utf8');
        for (const [, spec] of source.matchAll(/^import\s[^'"]*['"]([^'"]+)['"]/gm)) {
          const ok = ALLOWED.some((re) => re.test(spec!)) && (!spec!.startsWith('.') || ALLOWED_RELATIVE.some((re) => re.test(spec!)));
          assert.ok(ok, `${folder}/${file} imports ${spec}`);
        }
      }
    });
  }
});
