import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { Rcode } from './dns-answer.js';
import { handleDnsMessage, UDP_CLASSIC_LIMIT } from './dns-wire.js';
import { buildZone } from './dns-zone.js';

/** A service with 30 named ports: its SRV answer (about 2,400 bytes, as dns-packet does not compress names) is far over 512. */
const zone = buildZone({
  domain: 'cluster.local',
  services: [
    { namespace: 'default', name: 'deathstar', clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80 }] },
    { namespace: 'default', name: 'big', clusterIP: '10.96.0.13', ports: Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, port: 1000 + i })) },
  ],
  pods: [],
}, { ttl: 5, serial: 1 });

function query(name: string, type: 'A' | 'SRV', additionals: Answer[] = []): Buffer {
  return dnsPacket.encode({ type: 'query', id: 777, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }], additionals });
}

const rcode = (p: Packet): number => (p.flags ?? 0) & 0xf;

describe('cluster DNS wire handling', () => {
  it('decodes a query and encodes the answer', () => {
    const out = dnsPacket.decode(handleDnsMessage(zone, query('deathstar.default.svc.cluster.local', 'A'), 'udp')!);
    assert.equal(out.id, 777);
    assert.equal(out.type, 'response');
    assert.deepEqual(out.answers!.map((a) => (a as { data: unknown }).data), ['10.96.0.12']);
  });

  it('answers FORMERR, echoing the id, to what does not decode, and never throws', () => {
    const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const garbage = [
      header, // claims a question it does not carry
      Buffer.concat([header, Buffer.from([0x40, 0x41])]), // a reserved label type
      Buffer.concat([header, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]), // a compression pointer to itself
      Buffer.concat([header, Buffer.from([5, 0x61, 0x62])]), // a label longer than the message
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // 65535 of everything
    ];
    for (const message of garbage) {
      const out = dnsPacket.decode(handleDnsMessage(zone, message, 'udp')!);
      assert.equal(out.id, 0x1234);
      assert.equal(out.type, 'response');
      assert.equal(rcode(out), Rcode.FORMERR);
      assert.ok(out.flag_rd, 'RD is echoed');
      assert.deepEqual(out.questions, []);
    }
  });

  it('sends nothing back for a message shorter than a header or for a response', () => {
    assert.equal(handleDnsMessage(zone, Buffer.from([1, 2, 3]), 'udp'), undefined);
    assert.equal(handleDnsMessage(zone, Buffer.alloc(0), 'tcp'), undefined);
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'deathstar.default.svc.cluster.local', type: 'A' }] });
    assert.equal(handleDnsMessage(zone, response, 'udp'), undefined);
  });

  it('sets TC and sends the question alone when a UDP answer is over 512 bytes', () => {
    const udp = handleDnsMessage(zone, query('big.default.svc.cluster.local', 'SRV'), 'udp')!;
    assert.ok(udp.length <= UDP_CLASSIC_LIMIT);
    const out = dnsPacket.decode(udp);
    assert.ok(out.flag_tc);
    assert.equal(out.id, 777);
    assert.deepEqual(out.questions, [{ name: 'big.default.svc.cluster.local', type: 'SRV', class: 'IN' }]);
    assert.deepEqual(out.answers, []);
  });

  it('sends the whole answer over TCP, and over UDP up to the size EDNS advertises', () => {
    const tcp = handleDnsMessage(zone, query('big.default.svc.cluster.local', 'SRV'), 'tcp')!;
    assert.ok(tcp.length > UDP_CLASSIC_LIMIT);
    const out = dnsPacket.decode(tcp);
    assert.ok(!out.flag_tc);
    assert.equal(out.answers!.length, 30);
    const opt: Answer = { type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    const edns = dnsPacket.decode(handleDnsMessage(zone, query('big.default.svc.cluster.local', 'SRV', [opt]), 'udp')!);
    assert.ok(!edns.flag_tc);
    assert.equal(edns.answers!.length, 30);
    const small = { ...opt, udpPayloadSize: 600 };
    const cut = dnsPacket.decode(handleDnsMessage(zone, query('big.default.svc.cluster.local', 'SRV', [small]), 'udp')!);
    assert.ok(cut.flag_tc);
    assert.deepEqual(cut.additionals!.map((a) => a.type), ['OPT'], 'the OPT record survives truncation');
  });
});
