/** The pipeline's fast flow_event decoder agrees with the datapath codec, field for field. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flowEvent } from '../datapath/layout.js';
import { decodeFlowEvent } from './decode.js';

describe('decodeFlowEvent', () => {
  it('decodes what flowEvent.decode decodes, for random records at any offset', () => {
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
    for (let n = 0; n < 200; n++) {
      const buf = Buffer.alloc(flowEvent.size * 3);
      for (let i = 0; i < buf.length; i++) buf[i] = rnd() & 255;
      if (n % 2) buf.writeUInt32BE(0, flowEvent.size + 52); // no original destination
      buf.writeUInt32LE(rnd() & 0x1fffff, flowEvent.size + 4); // tsNs within 2^53, as bpf_ktime_get_ns() is
      assert.deepEqual(decodeFlowEvent(buf, flowEvent.size), flowEvent.decode(buf, flowEvent.size));
    }
  });

  it('round-trips an encoded record', () => {
    const ev = { tsNs: 123456789012345, saddr: 0x0af40001, daddr: 0x0af40002, sport: 40000, dport: 443, srcIdentity: 10001, dstIdentity: 10002,
      cookie: 9, ifindex: 12, len: 74, epId: 300, proto: 6, type: 5, verdict: 1, reason: 0, dir: 1, tcpFlags: 2, isReply: 0, matchType: 2,
      obsPoint: 0, icmpType: 0, origDaddr: '10.96.0.10', origDport: 80, svcId: 4, proxyPort: 15001 };
    assert.deepEqual(decodeFlowEvent(flowEvent.encode(ev), 0), ev);
  });
});
