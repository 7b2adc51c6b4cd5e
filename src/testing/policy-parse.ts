/** Test helpers shared by the policy tests (pure; kept out of policy/, which imports no test or I/O module). */
import assert from 'node:assert/strict';
import { parsePolicyText } from '../policy/parse.js';

/** Asserts that parsing fails with a ValidationError at exactly `path`, and that the message matches. */
export function rejectsPolicy(text: string, path: string, message?: RegExp): void {
  assert.throws(() => parsePolicyText(text), (err: { code?: string; path?: string; message: string }) => {
    assert.equal(err.code, 'EINVAL', err.message);
    assert.equal(err.path, path, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}
