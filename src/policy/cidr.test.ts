import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrContains, cidrOfLabelKey, formatCidr, parseCidr } from './cidr.js';

const norm = (t: string) => formatCidr(parseCidr(t)!);

describe('CIDRs', () => {
  it('normalize IPv4 and IPv6 prefixes by clearing host bits', () => {
    assert.equal(norm('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(norm('1.1.1.1'), '1.1.1.1/32');
    assert.equal(norm('2001:db8::1/32'), '2001:db8::/32');
    assert.equal(norm('2606:4700:4700::1111'), '2606:4700:4700::1111/128');
    assert.equal(norm('::ffff:1.2.3.4/128'), '::ffff:102:304/128');
    assert.equal(norm('::/0'), '::/0');
    assert.equal(norm('1:0:0:2:0:0:0:3/128'), '1:0:0:2::3/128');
  });

  it('reject what is not a CIDR', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fe80::1%eth0/64', '10.0.0.0/-1', 'x', '2001:db8::/129']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });

  it('contain narrower prefixes of the same family only', () => {
    assert.ok(cidrContains(parseCidr('1.0.0.0/8')!, parseCidr('1.0.0.1/32')!));
    assert.ok(!cidrContains(parseCidr('1.0.0.0/8')!, parseCidr('2.0.0.0/8')!));
    assert.ok(!cidrContains(parseCidr('1.0.0.0/16')!, parseCidr('1.0.0.0/8')!));
    assert.ok(!cidrContains(parseCidr('::/0')!, parseCidr('1.0.0.0/8')!));
  });

  it('read cidr label keys, with dashes for IPv6 colons', () => {
    assert.equal(formatCidr(cidrOfLabelKey('93.184.216.0/24')!), '93.184.216.0/24');
    assert.equal(formatCidr(cidrOfLabelKey('2001-db8--/32')!), '2001:db8::/32');
  });
});
