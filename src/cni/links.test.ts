import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { runIpBatch, shownLink } from './links.js';

describe('shownLink', () => {
  const show = '[{"ifindex":7,"link_index":2,"ifname":"lxc0123456789ab","flags":["UP"],"mtu":1500,"address":"be:97:b1:e5:ee:a1"}]';

  it('reads the ifindex and MAC the batch\'s last line printed (ip -json)', () => {
    assert.deepEqual(shownLink(`\n${show}\n\n`, 'lxc0123456789ab'), { name: 'lxc0123456789ab', ifindex: 7, mac: 'be:97:b1:e5:ee:a1' });
  });

  it('throws when the batch printed nothing, something else, or another link', () => {
    for (const out of ['', 'not json', '[]', show.replace('lxc0123456789ab', 'lxcffffffffffff')]) {
      assert.throws(() => shownLink(out, 'lxc0123456789ab'), (e: unknown) => e instanceof MembraneError && e.code === 'EEXEC', out);
    }
  });
});

describe('runIpBatch', () => {
  it('names the failing line and its error (EEXEC unless something already exists)', async () => {
    const err = await runIpBatch(['link show dev lo', 'link show dev nosuchdev0']).catch((e: unknown) => e);
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'EEXEC');
    assert.match(err.message, /^ip link show dev nosuchdev0 failed \(exit 1\): .*nosuchdev0/);
  });

  it('returns what the show lines printed', async () => {
    const out = await runIpBatch(['link show dev lo']);
    assert.equal(shownLink(out, 'lo').ifindex, 1);
  });
});
