/**
 * Keeps the service registry's decisions pure: only store.ts (the state
 * files) does I/O; every other module imports its own folder, the API
 * types, errors, the agent's input validators and the datapath's pure
 * address and LB type modules.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const IO_EDGE = new Set(['store.js']);
const ALLOWED = [
  /^\.\/[\w.-]+\.js$/, /^\.\.\/api\/types\.js$/, /^\.\.\/common\/errors\.js$/, /^\.\.\/agent\/validate\.js$/,
  /^\.\.\/datapath\/(layout|lb)\.js$/,
];

describe('pure service registry', () => {
  it('imports no I/O module outside store.ts', () => {
    const dir = new URL('./', import.meta.url);
    const modules = readdirSync(dir).filter((f) => f.endsWith('.js') && !f.endsWith('.test.js') && !IO_EDGE.has(f));
    assert.ok(modules.length > 0);
    for (const file of modules) {
      const source = readFileSync(new URL(file, dir), 'utf8');
      for (const [, spec] of source.matchAll(/^(?:import|export)\s(?:[^'";]*\sfrom\s)?['"]([^'"]+)['"]/gm)) {
        assert.ok(ALLOWED.some((re) => re.test(spec!)), `service/${file} imports ${spec}`);
      }
    }
  });
});
