import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MapState, policyKey } from '../policy/mapstate.js';
import { lookupPolicy } from '../policy/lookup.js';
import { L7ConfigView, WORLD_IDENTITY, hasL7Entries, lookupL7Entry, proxyEntries, sameProxyConfig, type L7Entry, type L7ProxyConfig } from './proxy-config.js';

const TCP = 6;
const rule = (path: string) => ({ rule: { path }, cookie: 1 });
const entry = (e: Partial<L7Entry>): L7Entry => ({ egress: false, identity: 0, protocol: TCP, port: 80, prefixLen: 24, http: [rule('/')], ...e });

describe('lookupL7Entry', () => {
  it('prefers the exact peer identity over any peer at the same prefix', () => {
    const exact = entry({ identity: 300, http: [rule('/exact')] });
    const any = entry({ identity: 0, http: [rule('/any')] });
    assert.equal(lookupL7Entry([any, exact], false, 300, TCP, 80), exact);
    assert.equal(lookupL7Entry([any, exact], false, 301, TCP, 80), any);
  });

  it('lets any peer win with a longer port prefix', () => {
    const exactProto = entry({ identity: 300, port: 0, prefixLen: 8 });
    const anyPort = entry({ identity: 0, port: 80, prefixLen: 24 });
    assert.equal(lookupL7Entry([exactProto, anyPort], false, 300, TCP, 80), anyPort);
    assert.equal(lookupL7Entry([exactProto, anyPort], false, 300, TCP, 81), exactProto);
  });

  it('takes the longest prefix of one identity (port ranges)', () => {
    const range = entry({ port: 80, prefixLen: 20 }); // 80..95
    const exact = entry({ port: 81, prefixLen: 24 });
    assert.equal(lookupL7Entry([range, exact], false, 5, TCP, 81), exact);
    assert.equal(lookupL7Entry([range, exact], false, 5, TCP, 90), range);
    assert.equal(lookupL7Entry([range, exact], false, 5, TCP, 96), undefined);
  });

  it('keeps directions and protocols apart', () => {
    const e = entry({ egress: true });
    assert.equal(lookupL7Entry([e], false, 5, TCP, 80), undefined);
    assert.equal(lookupL7Entry([e], true, 5, TCP, 80), e);
    assert.equal(lookupL7Entry([e], true, 5, 17, 80), undefined);
  });

  it('picks the entry the datapath lookup (policy/lookup.ts) picks whenever that one is redirected', () => {
    // A mixed state: L3/L4 allows and L7 allows of both identities at several prefixes.
    const state = new MapState();
    const l7: L7Entry[] = [];
    const add = (identity: number, port: number, prefixLen: number, redirect: boolean) => {
      const key = policyKey(identity, false, TCP, port, prefixLen);
      state.set(key, { deny: false, proxyPort: redirect ? 15001 : 0, cookie: identity * 1000 + prefixLen });
      if (redirect) l7.push(entry({ identity, port: key.port, prefixLen, http: [{ rule: {}, cookie: identity * 1000 + prefixLen }] }));
    };
    add(300, 0, 8, true);
    add(300, 64, 18, false);
    add(0, 80, 24, true);
    add(0, 0, 8, false);
    add(301, 8080, 24, true);
    for (const peer of [300, 301, 302]) {
      for (const port of [22, 64, 80, 100, 8080]) {
        const v = lookupPolicy(state, peer, false, TCP, port);
        const mine = lookupL7Entry(l7, false, peer, TCP, port);
        if (v.entry?.proxyPort) assert.equal(mine?.http[0]!.cookie, v.entry.cookie, `peer ${peer} port ${port}`);
      }
    }
  });
});

describe('L7ConfigView', () => {
  const config: L7ProxyConfig = {
    revision: 1,
    ports: { ingress: 15001, egress: 15002 },
    endpoints: [
      { ip: '10.0.0.10', id: 10, identity: 1000, entries: [entry({ identity: 1001 }), entry({ egress: true, identity: 0, port: 8080 })] },
    ],
    addresses: [{ ip: '10.0.0.10', identity: 1000 }, { ip: '10.0.0.11', identity: 1001 }, { ip: '10.0.0.1', identity: 1 }],
    cidrs: [{ prefix: '192.168.0.0/16', identity: 16777217 }, { prefix: '192.168.7.0/24', identity: 16777218 }, { prefix: 'fd00::/64', identity: 16777219 }],
  };
  const view = new L7ConfigView(config);

  it('knows local addresses, then the longest CIDR, then world', () => {
    assert.equal(view.identityOf('10.0.0.11'), 1001);
    assert.equal(view.identityOf('10.0.0.1'), 1);
    assert.equal(view.identityOf('192.168.7.9'), 16777218);
    assert.equal(view.identityOf('192.168.8.9'), 16777217);
    assert.equal(view.identityOf('8.8.8.8'), WORLD_IDENTITY);
  });

  it('matches ingress at the endpoint connected to, egress at the client', () => {
    const ingress = view.match({ egress: false, client: { ip: '10.0.0.11', port: 40000 }, original: { ip: '10.0.0.10', port: 80 }, protocol: TCP });
    assert.equal(ingress.endpoint?.id, 10);
    assert.equal(ingress.peerIdentity, 1001);
    assert.equal(ingress.entry, config.endpoints[0]!.entries[0]);
    const egress = view.match({ egress: true, client: { ip: '10.0.0.10', port: 40000 }, original: { ip: '8.8.8.8', port: 8080 }, protocol: TCP });
    assert.equal(egress.peerIdentity, WORLD_IDENTITY);
    assert.equal(egress.entry, config.endpoints[0]!.entries[1]);
  });

  it('finds no entry for an unknown endpoint or a peer the rules do not name', () => {
    assert.equal(view.match({ egress: false, client: { ip: '10.0.0.12', port: 1 }, original: { ip: '10.0.0.10', port: 80 }, protocol: TCP }).entry, undefined);
    const none = view.match({ egress: false, client: { ip: '10.0.0.11', port: 1 }, original: { ip: '10.0.0.99', port: 80 }, protocol: TCP });
    assert.equal(none.endpoint, undefined);
    assert.equal(none.entry, undefined);
  });

  it('compares configurations without their revision', () => {
    assert.ok(sameProxyConfig(config, { ...config, revision: 7 }));
    assert.ok(!sameProxyConfig(config, { ...config, ports: { ingress: 1, egress: 2 } }));
  });
});

describe('proxyEntries: what the proxy gets of an endpoint\'s policy map', () => {
  const http = { http: [{ rule: { method: 'GET' }, cookie: 7 }] };
  it('a plain allow of this very client wins over a wildcard entry with HTTP rules, as in the kernel', () => {
    // Ingress: client 300 allowed on port 80 without HTTP rules; any peer on port 80 with GET only.
    const ms = new MapState();
    ms.set(policyKey(300, false, TCP, 80, 24), { deny: false, proxyPort: 0, cookie: 1 });
    ms.set(policyKey(0, false, TCP, 80, 24), { deny: false, proxyPort: 15001, cookie: 2, l7: http });
    ms.set(policyKey(300, false, TCP, 443, 24), { deny: false, proxyPort: 0, cookie: 3 });
    ms.set(policyKey(300, false, TCP, 0, 8), { deny: true, proxyPort: 0, cookie: 4 });
    const entries = proxyEntries(ms);
    assert.equal(entries.length, 2, 'the HTTP entry and the plain allow on its port; not port 443, not the deny');
    assert.equal(lookupL7Entry(entries, false, 300, TCP, 80)?.http.length, 0, 'client 300: a plain allow, no HTTP rules');
    assert.equal(lookupL7Entry(entries, false, 301, TCP, 80)?.http.length, 1, 'any other client: the HTTP rules');
    // The kernel agrees: for 300 its entry has no proxy port.
    const kernel = lookupPolicy(ms, 300, false, TCP, 80);
    assert.deepEqual([kernel.verdict, kernel.entry?.proxyPort], ['allow', 0]);
  });

  it('sends no plain allows for an endpoint without HTTP rules on ingress, and they alone never start the proxy', () => {
    const ms = new MapState();
    ms.set(policyKey(300, false, TCP, 80, 24), { deny: false, proxyPort: 0, cookie: 1 });
    ms.set(policyKey(0, true, TCP, 80, 24), { deny: false, proxyPort: 15002, cookie: 2, l7: http });
    const entries = proxyEntries(ms);
    assert.deepEqual(entries.map((e) => [e.egress, e.http.length]), [[true, 1]]);
    assert.equal(hasL7Entries({ endpoints: [{ ip: '10.0.0.1', id: 1, identity: 5, entries: [entry({ http: [] })] }] }), false);
  });
});
