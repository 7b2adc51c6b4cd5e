/**
 * The events reader under a flood: a million and more events through the
 * real ring buffer (BPF_PROG_TEST_RUN makes them) into EventStream. All are
 * handed over, and the process's memory stays flat: the reader allocates
 * per batch, never per record in a way the garbage collector does not see.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { requireRoot } from '../testing/names.js';
import { LxcDatapath } from './loader.js';
import { EVENT_DROP, endpointInfo, endpointKey, flowEvent, ip4ToInt } from './layout.js';
import { buildPacket } from './packet.js';
import { EventStream } from './ringbuf.js';

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

describe('events reader under a flood (BPF_PROG_TEST_RUN)', () => {
  let dp: LxcDatapath;
  let stream: EventStream | undefined;
  before(() => {
    requireRoot();
    dp = LxcDatapath.load();
  });
  after(async () => {
    await stream?.stop();
    dp?.close();
  });

  it('hands every event over in batches and keeps its memory flat', async () => {
    // An endpoint with no policy entry: each packet it sends is one drop event (133).
    dp.maps.endpoints.update(endpointKey.encode({ ip4: ip4ToInt('10.202.0.1') }),
      endpointInfo.encode({ ifindex: 1, identity: 1000, epId: 1, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' }));
    const pkt = buildPacket({ src: '10.202.0.1', dst: '10.202.1.1', proto: 'tcp', sport: 1, dport: 80 });
    let received = 0;
    let drops = 0;
    stream = new EventStream(dp.maps.events.fd, flowEvent.size, (batch, count) => {
      received += count;
      if (flowEvent.decode(batch, (count - 1) * flowEvent.size).type === EVENT_DROP) drops++;
    }, (err) => assert.fail(err));
    let sent = 0;
    const flood = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        for (let k = 0; k < 500; k++) dp.testRun('from_container', pkt);
        sent += 500;
        await new Promise((r) => setImmediate(r));
      }
    };
    await flood(2000); // warm-up: the heaps and batch buffers reach their working size
    const rssAfterWarmUp = rssMiB();
    const sentAfterWarmUp = sent;
    await flood(6000);
    await stream.flush();
    const growth = rssMiB() - rssAfterWarmUp;
    assert.ok(sent - sentAfterWarmUp > 300_000, `${sent - sentAfterWarmUp} events after the warm-up`);
    assert.equal(received + stream.droppedRecords, sent, 'every event handed over or counted as dropped');
    assert.ok(drops > 0, 'the records are the datapath\'s drop events');
    assert.ok(growth < 25, `RSS grew ${growth.toFixed(1)} MiB over ${sent - sentAfterWarmUp} events after the warm-up`);
  });
});
