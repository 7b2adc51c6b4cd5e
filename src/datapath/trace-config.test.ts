import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { datapathConfig } from './layout.js';
import { encodeTraceConfig, parseTraceFlags, parseTraceInterval, parseTraceLevel } from './trace-config.js';

describe('trace aggregation settings', () => {
  it('parses the levels, case-insensitively, and names the flag when it cannot', () => {
    assert.equal(parseTraceLevel('Medium'), 'medium');
    assert.equal(parseTraceLevel('none'), 'none');
    assert.throws(() => parseTraceLevel('high'), /--monitor-aggregation: "high" is not a level; use one of none, low, medium, maximum/);
  });

  it('parses TCP flags as Cilium\'s --monitor-aggregation-flags: all, or a list', () => {
    assert.equal(parseTraceFlags('all'), 0xff);
    assert.equal(parseTraceFlags('syn,fin,rst'), 0x07);
    assert.equal(parseTraceFlags(' SYN , ack '), 0x12);
    assert.throws(() => parseTraceFlags('syn,foo'), /--monitor-aggregation-flags: "foo" is not a TCP flag/);
    assert.throws(() => parseTraceFlags(' , '), /--monitor-aggregation-flags: empty/);
  });

  it('parses the interval in s, m or h, within the datapath clock\'s range', () => {
    assert.equal(parseTraceInterval('5s'), 5);
    assert.equal(parseTraceInterval('2m'), 120);
    assert.equal(parseTraceInterval('30'), 30);
    for (const bad of ['0s', '-1s', '5ms', '19h', 'soon']) assert.throws(() => parseTraceInterval(bad), /--monitor-aggregation-interval: .* is not a duration between 1s and 65535s/, bad);
  });

  it('encodes a valid datapath_config entry', () => {
    const c = datapathConfig.decode(encodeTraceConfig({ level: 'maximum', flags: 0x07, intervalS: 10 }));
    assert.deepEqual(c, { valid: 1, traceLevel: 3, traceFlags: 7, traceIntervalS: 10 });
  });
});
