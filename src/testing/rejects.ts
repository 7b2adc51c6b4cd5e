import assert from 'node:assert/strict';
import type { MembraneError } from '../common/errors.js';

/** Awaits a call that must fail and returns its error; fails the test when the call succeeds. */
export async function rejects(p: Promise<unknown>): Promise<MembraneError> {
  try {
    await p;
  } catch (err) {
    return err as MembraneError;
  }
  assert.fail('expected the agent to refuse');
}
