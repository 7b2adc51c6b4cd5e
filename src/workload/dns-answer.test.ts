import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer, OptAnswer, Packet, Question } from 'dns-packet';
import { answerQuery, EDNS_UDP_PAYLOAD_SIZE, Rcode } from './dns-answer.js';
import type { DnsRecordsFile } from './dns-records.js';
import { buildZone } from './dns-zone.js';

const RECORDS: DnsRecordsFile = {
  domain: 'cluster.local',
  services: [
    { namespace: 'default', name: 'deathstar', clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    {
      namespace: 'kube-system', name: 'kube-dns', clusterIP: '10.96.0.10',
      ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { port: 9153 }],
    },
    { namespace: 'empire', name: 'v6', clusterIP: 'fd00::12', ports: [] },
  ],
  pods: [
    { namespace: 'default', name: 'tiefighter', ip: '10.0.1.5' },
    { namespace: 'empire', name: 'xwing', ip: '10.0.2.7' },
  ],
};

const zone = buildZone(RECORDS, { ttl: 5, serial: 7 });

interface Ask {
  id?: number;
  flags?: number;
  class?: string;
  questions?: Question[];
  additionals?: Answer[];
}

/** Sends a query through the wire codec first, so the answer logic sees exactly what the server decodes. */
function ask(name: string, type: string, extra: Ask = {}): Packet & { rcode: number } {
  const query: Packet = {
    type: 'query', id: extra.id ?? 4242, flags: extra.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: extra.questions ?? [{ name, type: type as Question['type'], class: (extra.class ?? 'IN') as Question['class'] }],
    additionals: extra.additionals ?? [],
  };
  const response = answerQuery(zone, dnsPacket.decode(dnsPacket.encode(query)));
  return { ...response, rcode: (response.flags ?? 0) & 0xf };
}

const aa = (p: Packet): boolean => ((p.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0;
const data = (p: Packet): unknown[] => (p.answers ?? []).map((a) => (a as { data: unknown }).data);
const soaOnly = (p: Packet): void => assert.deepEqual((p.authorities ?? []).map((a) => [a.type, a.name]), [['SOA', 'cluster.local']]);

const opt = (version = 0, size = 4096): OptAnswer => ({
  type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: version, flags: 0, flag_do: false, options: [],
});

describe('cluster DNS answers: services', () => {
  it('answers A <svc>.<ns>.svc.<domain> with the cluster IP, authoritatively, with the TTL', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'A');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.ok(aa(r));
    assert.deepEqual(r.answers, [{ type: 'A', name: 'deathstar.default.svc.cluster.local', ttl: 5, data: '10.96.0.12' }]);
  });

  it('echoes the id, the question and RD, and leaves RA clear (it recurses for nobody)', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'A', { id: 31337 });
    assert.equal(r.id, 31337);
    assert.equal(r.type, 'response');
    assert.deepEqual(r.questions, [{ name: 'deathstar.default.svc.cluster.local', type: 'A', class: 'IN' }]);
    assert.ok(((r.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0);
    assert.equal((r.flags ?? 0) & dnsPacket.RECURSION_AVAILABLE, 0);
    const noRd = ask('deathstar.default.svc.cluster.local', 'A', { flags: 0 });
    assert.equal((noRd.flags ?? 0) & dnsPacket.RECURSION_DESIRED, 0);
  });

  it('matches names case-insensitively and answers in the spelling asked (DNS 0x20)', () => {
    const r = ask('DeathStar.DEFAULT.svc.Cluster.Local', 'A');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.deepEqual(data(r), ['10.96.0.12']);
    assert.equal(r.answers![0]!.name, 'DeathStar.DEFAULT.svc.Cluster.Local');
    assert.equal(r.questions![0]!.name, 'DeathStar.DEFAULT.svc.Cluster.Local');
  });

  it('answers SRV _<port>._<proto>.<svc>.<ns>.svc.<domain> with the port and the service name, and its A as additional', () => {
    const r = ask('_http._tcp.deathstar.default.svc.cluster.local', 'SRV');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.ok(aa(r));
    assert.deepEqual(data(r), [{ priority: 0, weight: 100, port: 80, target: 'deathstar.default.svc.cluster.local' }]);
    assert.deepEqual(r.additionals, [{ type: 'A', name: 'deathstar.default.svc.cluster.local', ttl: 5, data: '10.96.0.12' }]);
    const udp = ask('_dns._udp.kube-dns.kube-system.svc.cluster.local', 'SRV');
    assert.deepEqual(data(udp), [{ priority: 0, weight: 100, port: 53, target: 'kube-dns.kube-system.svc.cluster.local' }]);
  });

  it('answers SRV for the service name with every named port, sharing the weight; unnamed ports get none', () => {
    const r = ask('kube-dns.kube-system.svc.cluster.local', 'SRV');
    assert.deepEqual(data(r), [{ priority: 0, weight: 50, port: 53, target: 'kube-dns.kube-system.svc.cluster.local' }]);
    assert.equal(ask('_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local', 'SRV').rcode, Rcode.NOERROR);
    assert.equal(ask('_dns._tcp.kube-dns.kube-system.svc.cluster.local', 'SRV').rcode, Rcode.NXDOMAIN, 'dns is a UDP port');
    assert.equal(ask('_http._udp.deathstar.default.svc.cluster.local', 'SRV').rcode, Rcode.NXDOMAIN);
  });

  it('answers ANY with every record of the name', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'ANY');
    assert.deepEqual(r.answers!.map((a) => a.type).sort(), ['A', 'SRV']);
  });

  it('answers AAAA for an IPv6 cluster IP, and NODATA for A there', () => {
    assert.deepEqual(data(ask('v6.empire.svc.cluster.local', 'AAAA')), ['fd00::12']);
    const a = ask('v6.empire.svc.cluster.local', 'A');
    assert.equal(a.rcode, Rcode.NOERROR);
    assert.deepEqual(a.answers, []);
  });

  it('answers PTR for a cluster IP with the service name', () => {
    const r = ask('12.0.96.10.in-addr.arpa', 'PTR');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.deepEqual(data(r), ['deathstar.default.svc.cluster.local']);
    assert.equal(ask('99.0.96.10.in-addr.arpa', 'PTR').rcode, Rcode.NXDOMAIN);
  });
});

describe('cluster DNS answers: pods', () => {
  it('answers A <a-b-c-d>.<ns>.pod.<domain> for a pod that exists', () => {
    const r = ask('10-0-1-5.default.pod.cluster.local', 'A');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.ok(aa(r));
    assert.deepEqual(data(r), ['10.0.1.5']);
  });

  it('gives NXDOMAIN for a pod address no pod has, or a pod in another namespace', () => {
    const none = ask('10-0-1-6.default.pod.cluster.local', 'A');
    assert.equal(none.rcode, Rcode.NXDOMAIN);
    soaOnly(none);
    assert.equal(ask('10-0-2-7.default.pod.cluster.local', 'A').rcode, Rcode.NXDOMAIN);
    assert.deepEqual(data(ask('10-0-2-7.empire.pod.cluster.local', 'A')), ['10.0.2.7']);
  });
});

describe('cluster DNS answers: negative answers', () => {
  it('answers AAAA for a name with only an A record with NOERROR, no answers and the SOA (NODATA)', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'AAAA');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.ok(aa(r));
    assert.deepEqual(r.answers, []);
    soaOnly(r);
    assert.equal(ask('10-0-1-5.default.pod.cluster.local', 'AAAA').rcode, Rcode.NOERROR);
  });

  it('gives NXDOMAIN with the SOA for an unknown name inside the domain', () => {
    for (const name of ['alderaan.default.svc.cluster.local', 'deathstar.empire.svc.cluster.local', 'x.deathstar.default.svc.cluster.local', 'foo.cluster.local']) {
      const r = ask(name, 'A');
      assert.equal(r.rcode, Rcode.NXDOMAIN, name);
      assert.ok(aa(r), name);
      assert.deepEqual(r.answers, [], name);
      soaOnly(r);
      assert.deepEqual(r.questions![0]!.name, name);
    }
  });

  it('answers NODATA for names that exist only as ancestors of records (empty non-terminals)', () => {
    for (const name of ['default.svc.cluster.local', 'svc.cluster.local', 'pod.cluster.local', 'default.pod.cluster.local', '_tcp.deathstar.default.svc.cluster.local']) {
      const r = ask(name, 'A');
      assert.equal(r.rcode, Rcode.NOERROR, name);
      assert.deepEqual(r.answers, [], name);
      soaOnly(r);
    }
  });

  it('gives NXDOMAIN without authority for names outside the domain: nothing is forwarded', () => {
    for (const name of ['example.com', 'deathstar', 'deathstar.default', 'cluster.local.example.com', 'notcluster.local', 'local']) {
      const r = ask(name, 'A');
      assert.equal(r.rcode, Rcode.NXDOMAIN, name);
      assert.ok(!aa(r), name);
      assert.deepEqual(r.answers, [], name);
      assert.deepEqual(r.authorities, [], name);
    }
  });
});

describe('cluster DNS answers: the zone apex', () => {
  it('answers SOA at the domain, like CoreDNS: ns.dns.<domain>, hostmaster.<domain>, minimum = TTL', () => {
    const r = ask('cluster.local', 'SOA');
    assert.deepEqual(data(r), [{ mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 7, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 }]);
    assert.equal(ask('cluster.local', 'A').rcode, Rcode.NOERROR);
  });

  it('answers the schema version TXT of the Kubernetes DNS specification', () => {
    const r = ask('dns-version.cluster.local', 'TXT');
    assert.deepEqual(data(dnsPacket.decode(dnsPacket.encode(r))), [[Buffer.from('1.1.0')]]);
  });
});

describe('cluster DNS answers: odd queries', () => {
  it('gives NOTIMP for an opcode other than QUERY, echoing the opcode', () => {
    const status = 2 << 11;
    const r = ask('deathstar.default.svc.cluster.local', 'A', { flags: status });
    assert.equal(r.rcode, Rcode.NOTIMP);
    assert.equal((r.flags ?? 0) & (0xf << 11), status);
  });

  it('gives FORMERR for no question, two questions, two OPT records, or a name with non-ASCII bytes', () => {
    assert.equal(ask('', 'A', { questions: [] }).rcode, Rcode.FORMERR);
    const two: Question[] = [{ name: 'a.cluster.local', type: 'A' }, { name: 'b.cluster.local', type: 'A' }];
    assert.equal(ask('', 'A', { questions: two }).rcode, Rcode.FORMERR);
    assert.equal(ask('deathstar.default.svc.cluster.local', 'A', { additionals: [opt(), opt()] }).rcode, Rcode.FORMERR);
    assert.equal(ask('dé.cluster.local', 'A').rcode, Rcode.FORMERR);
  });

  it('gives REFUSED for another class and for zone transfers', () => {
    assert.equal(ask('version.bind', 'TXT', { class: 'CH' }).rcode, Rcode.REFUSED);
    assert.equal(ask('cluster.local', 'AXFR').rcode, Rcode.REFUSED);
  });

  it('echoes an EDNS OPT record advertising its own UDP size, and answers BADVERS to EDNS versions above 0', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'A', { additionals: [opt()] });
    assert.equal(r.rcode, Rcode.NOERROR);
    const back = r.additionals!.find((a): a is OptAnswer => a.type === 'OPT');
    assert.equal(back?.udpPayloadSize, EDNS_UDP_PAYLOAD_SIZE);
    assert.equal(back?.extendedRcode, 0);
    assert.equal(ask('deathstar.default.svc.cluster.local', 'A').additionals!.length, 0, 'no OPT for a query without one');
    const bad = ask('deathstar.default.svc.cluster.local', 'A', { additionals: [opt(1)] });
    assert.deepEqual(bad.answers, []);
    assert.equal(bad.additionals!.find((a): a is OptAnswer => a.type === 'OPT')?.extendedRcode, 1, 'BADVERS = 16 = extended 1, rcode 0');
  });

  it('answers queries of record types dns-packet does not name (HTTPS = 65) with NODATA', () => {
    const r = ask('deathstar.default.svc.cluster.local', 'UNKNOWN_65');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.deepEqual(r.answers, []);
    const wire = dnsPacket.decode(dnsPacket.encode(r));
    assert.equal(wire.questions![0]!.type, 'UNKNOWN_65');
  });
});

describe('cluster DNS answers: headless services', () => {
  const headless = buildZone({
    domain: 'cluster.local',
    services: [
      {
        namespace: 'default', name: 'db', clusterIP: 'None',
        ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }, { name: 'metrics', port: 9187, protocol: 'TCP' }],
        endpoints: [{ ip: '10.0.1.7', ports: { sql: 6432, metrics: 9187 } }, { ip: '10.0.1.6', ports: { sql: 6432 } }],
      },
      { namespace: 'default', name: 'empty', clusterIP: 'None', ports: [{ name: 'http', port: 80 }], endpoints: [] },
      { namespace: 'default', name: 'deathstar', clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    ],
    pods: [],
  }, { ttl: 5, serial: 1 });
  const askHeadless = (name: string, type: string): Packet & { rcode: number } => {
    const query: Packet = { type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as Question['type'], class: 'IN' }] };
    const response = answerQuery(headless, dnsPacket.decode(dnsPacket.encode(query)));
    return { ...response, rcode: (response.flags ?? 0) & 0xf };
  };
  const sorted = (p: Packet): unknown[] => data(p).map((d) => JSON.stringify(d)).sort().map((d) => JSON.parse(d) as unknown);

  it('answers A <svc>.<ns>.svc.<domain> with the address of every ready endpoint, no cluster IP', () => {
    const r = askHeadless('db.default.svc.cluster.local', 'A');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.ok(aa(r));
    assert.deepEqual(sorted(r), ['10.0.1.6', '10.0.1.7']);
    assert.ok((r.answers ?? []).every((a) => a.type === 'A' && a.name === 'db.default.svc.cluster.local' && a.ttl === 5));
  });

  it('gives each endpoint a name of its own, <a-b-c-d>.<svc>.<ns>.svc.<domain>, and a PTR to it', () => {
    assert.deepEqual(data(askHeadless('10-0-1-7.db.default.svc.cluster.local', 'A')), ['10.0.1.7']);
    assert.deepEqual(data(askHeadless('7.1.0.10.in-addr.arpa', 'PTR')), ['10-0-1-7.db.default.svc.cluster.local']);
  });

  it('answers SRV per named port with one record per endpoint serving it, at the endpoint\'s port, with their A as additional', () => {
    const r = askHeadless('_sql._tcp.db.default.svc.cluster.local', 'SRV');
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.deepEqual(sorted(r), [
      { priority: 0, weight: 50, port: 6432, target: '10-0-1-6.db.default.svc.cluster.local' },
      { priority: 0, weight: 50, port: 6432, target: '10-0-1-7.db.default.svc.cluster.local' },
    ]);
    assert.deepEqual((r.additionals ?? []).map((a) => `${a.name} ${String((a as { data: unknown }).data)}`).sort(),
      ['10-0-1-6.db.default.svc.cluster.local 10.0.1.6', '10-0-1-7.db.default.svc.cluster.local 10.0.1.7']);
    assert.deepEqual(data(askHeadless('_metrics._tcp.db.default.svc.cluster.local', 'SRV')),
      [{ priority: 0, weight: 100, port: 9187, target: '10-0-1-7.db.default.svc.cluster.local' }], 'only the endpoint with that port');
    assert.equal(askHeadless('db.default.svc.cluster.local', 'SRV').answers?.length, 3, 'the service name: every port of every endpoint');
  });

  it('gives NXDOMAIN for a headless service without ready endpoints, and keeps load-balanced services on their cluster IP', () => {
    assert.equal(askHeadless('empty.default.svc.cluster.local', 'A').rcode, Rcode.NXDOMAIN);
    assert.deepEqual(data(askHeadless('deathstar.default.svc.cluster.local', 'A')), ['10.96.0.12']);
  });
});
