/**
 * ServiceRegistry against a fake datapath: frontends per port (and per node
 * address for NodePort), ids stable across changes and restarts, only what
 * changed rewritten, all-or-nothing changes, reconcile after a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sServiceModel } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import type { ServiceDatapath } from './datapath-port.js';
import type { LbFrontend, RealizedFrontend } from './lb-types.js';
import { ServiceRegistry } from './registry.js';
import type { PersistedService, PersistedServices, ServiceStore } from './store.js';

/** The kernel's LB maps as a map of frontends; `failOn` makes the nth write from now throw. */
class FakeDatapath implements ServiceDatapath {
  readonly frontends = new Map<number, LbFrontend>();
  readonly log: string[] = [];
  failOn?: number;
  private writes = 0;

  syncService(f: LbFrontend) {
    this.writes++;
    if (this.failOn !== undefined && this.writes === this.failOn) throw new MembraneError('EKERNEL', 'map full');
    this.log.push(`sync ${f.id}`);
    this.frontends.set(f.id, structuredClone(f));
    return { written: 1, deleted: 0 };
  }

  deleteService(id: number) {
    this.log.push(`delete ${id}`);
    this.frontends.delete(id);
  }

  realizedServices(): RealizedFrontend[] {
    let backendId = 0;
    return [...this.frontends.values()].map((f) => ({ ...structuredClone(f), backends: f.backends.map((b) => ({ ...b, id: ++backendId })) }));
  }
}

/** The state dir as a map of files, one per service, and the cursor file. */
class MemoryStore implements ServiceStore {
  readonly files = new Map<string, PersistedService & { idCursor: number }>();
  cursorFile = 0;
  writes = 0;

  load(): PersistedServices {
    const entries = [...this.files.values()];
    return {
      services: entries.map(({ service, frontendIds }) => structuredClone({ service, frontendIds })),
      idCursor: Math.max(this.cursorFile, ...entries.map((e) => e.idCursor)),
    };
  }

  save(entry: PersistedService, idCursor: number): void {
    this.writes++;
    this.files.set(`${entry.service.namespace}.${entry.service.name}`, structuredClone({ ...entry, idCursor }));
  }

  remove(namespace: string, name: string, idCursor: number): void {
    this.writes++;
    this.cursorFile = idCursor;
    this.files.delete(`${namespace}.${name}`);
  }
}

function deathstar(overrides: Partial<K8sServiceModel> = {}): K8sServiceModel {
  return {
    namespace: 'default', name: 'deathstar', type: 'ClusterIP', clusterIP: '10.96.0.12',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    backends: [
      { ip: '10.244.1.21', ports: { http: 80 }, pod: { namespace: 'default', name: 'deathstar-b' } },
      { ip: '10.244.1.20', ports: { http: 80 }, pod: { namespace: 'default', name: 'deathstar-a' } },
    ],
    ...overrides,
  };
}

function setup(opts: { nodeIps?: string[]; store?: MemoryStore; dp?: FakeDatapath } = {}) {
  const dp = opts.dp ?? new FakeDatapath();
  const store = opts.store ?? new MemoryStore();
  const reg = new ServiceRegistry({ datapath: dp, nodeIps: opts.nodeIps ?? ['192.168.50.2'], store });
  reg.reconcile();
  return { dp, reg, store };
}

function rejection(fn: () => unknown): MembraneError {
  try {
    fn();
  } catch (err) {
    return err as MembraneError;
  }
  assert.fail('expected an error');
}

describe('ServiceRegistry', () => {
  it('turns a ClusterIP service into one frontend per port, backends sorted, with the pods behind them', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }], backends: [
      { ip: '10.244.1.21', ports: { http: 8080, dns: 5353 } }, { ip: '10.244.1.20', ports: { http: 8080 }, terminating: true },
    ] }));
    const list = reg.listFrontends(dp.realizedServices());
    assert.deepEqual(list.map((f) => [f.id, `${f.frontend.ip}:${f.frontend.port}/${f.frontend.protocol}`, f.type, f.service.portName]), [
      [1, '10.96.0.12:80/TCP', 'ClusterIP', 'http'],
      [2, '10.96.0.12:53/UDP', 'ClusterIP', 'dns'],
    ]);
    assert.deepEqual(list[0]!.backends.map((b) => `${b.ip}:${b.port} ${b.state}`), ['10.244.1.20:8080 terminating', '10.244.1.21:8080 active']);
    assert.ok(list[0]!.backends.every((b) => b.id > 0), 'backend ids come from the datapath');
    assert.deepEqual(list[1]!.backends.map((b) => `${b.ip}:${b.port}/${b.protocol}`), ['10.244.1.21:5353/UDP'], 'only backends with that port');
    assert.deepEqual(dp.frontends.get(2), {
      id: 2, vip: '10.96.0.12', port: 53, protocol: 17, algorithm: 'random', affinityTimeoutSec: 0,
      backends: [{ ip: '10.244.1.21', port: 5353, state: 'active' }],
    });
    assert.deepEqual(reg.listFrontends()[0]!.backends[0]!.pod, undefined);
  });

  it('adds a NodePort frontend per node address, typed NodePort, beside the ClusterIP one', () => {
    const { dp, reg } = setup({ nodeIps: ['192.168.50.2', '172.20.0.2'] });
    reg.put(deathstar({ type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] }));
    assert.deepEqual(reg.listFrontends().map((f) => `${f.id} ${f.frontend.ip}:${f.frontend.port}/${f.frontend.protocol} ${f.type}`), [
      '1 10.96.0.12:80/TCP ClusterIP', '2 192.168.50.2:30080/TCP NodePort', '3 172.20.0.2:30080/TCP NodePort',
    ]);
    assert.deepEqual(dp.frontends.get(3)!.backends.map((b) => b.ip), ['10.244.1.20', '10.244.1.21']);
  });

  it('carries session affinity and the algorithm to every frontend', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ sessionAffinityTimeoutSeconds: 600, algorithm: 'maglev' }));
    assert.equal(dp.frontends.get(1)!.affinityTimeoutSec, 600);
    assert.equal(dp.frontends.get(1)!.algorithm, 'maglev');
    assert.equal(reg.listFrontends()[0]!.affinityTimeoutSeconds, 600);
  });

  it('rewrites only the frontends that changed, and an identical put writes nothing', () => {
    const { dp, reg } = setup();
    const two = deathstar({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'admin', port: 81, protocol: 'TCP' }], backends: [
      { ip: '10.244.1.20', ports: { http: 80, admin: 81 } },
    ] });
    assert.deepEqual(reg.put(two), { written: 2, deleted: 0, unchanged: 0 });
    dp.log.length = 0;
    assert.deepEqual(reg.put(two), { written: 0, deleted: 0, unchanged: 2 });
    assert.deepEqual(dp.log, []);
    const moved = structuredClone(two);
    moved.backends[0]!.ports['admin'] = 8081;
    assert.deepEqual(reg.put(moved), { written: 1, deleted: 0, unchanged: 1 });
    assert.deepEqual(dp.log, ['sync 2']);
  });

  it('keeps ids across changes, deletes gone ports last, and never hands a freed id out again at once', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'admin', port: 81, protocol: 'TCP' }], backends: [] }));
    dp.log.length = 0;
    reg.put(deathstar({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }], backends: [] }));
    assert.deepEqual(dp.log, ['sync 3', 'delete 2'], 'the new frontend is written before the gone one is deleted; http (id 1) untouched');
    assert.deepEqual(reg.listFrontends().map((f) => [f.id, f.frontend.port]), [[1, 80], [3, 443]]);
    reg.put({ ...deathstar(), name: 'other', clusterIP: '10.96.0.13' });
    assert.equal(reg.listFrontends().at(-1)!.id, 4, 'id 2 is not reused right away');
  });

  it('deletes a service with all its frontends, and reports an unknown one', () => {
    const { dp, reg } = setup({ nodeIps: ['192.168.50.2'] });
    reg.put(deathstar({ type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] }));
    assert.equal(dp.frontends.size, 2);
    assert.equal(reg.delete('default', 'deathstar'), true);
    assert.equal(dp.frontends.size, 0);
    assert.deepEqual(reg.listFrontends(), []);
    assert.deepEqual(reg.listK8s(), []);
    assert.equal(reg.delete('default', 'deathstar'), false);
  });

  it('names the service behind a frontend id, for flows', () => {
    const { reg } = setup();
    reg.put(deathstar());
    assert.deepEqual(reg.serviceById(1), { namespace: 'default', name: 'deathstar' });
    assert.equal(reg.serviceById(2), undefined);
    assert.equal(reg.getFrontend(1).service.name, 'deathstar');
    assert.equal(rejection(() => reg.getFrontend(9)).code, 'ENOTFOUND');
  });

  it('refuses a frontend another service owns, naming the port, and changes nothing', () => {
    const { dp, reg } = setup();
    reg.put(deathstar());
    dp.log.length = 0;
    const err = rejection(() => reg.put({ ...deathstar(), name: 'copycat' }));
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.path, 'ports[0].port');
    assert.match(err.message, /10\.96\.0\.12:80\/TCP is already a frontend of service default\/deathstar/);
    assert.deepEqual(dp.log, []);
    assert.equal(reg.listK8s().length, 1);
  });

  it('undoes every write of a change the kernel refuses halfway, and keeps the old service', () => {
    const { dp, reg, store } = setup();
    reg.put(deathstar());
    const before = structuredClone([...dp.frontends]);
    const savedBefore = structuredClone([...store.files]);
    dp.failOn = 2; // the second frontend of the change fails
    const err = rejection(() => reg.put(deathstar({
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'admin', port: 81, protocol: 'TCP' }],
      backends: [{ ip: '10.244.1.30', ports: { http: 80, admin: 81 } }],
    })));
    assert.equal(err.code, 'EKERNEL');
    assert.deepEqual([...dp.frontends], before, 'the kernel holds the old service again');
    assert.deepEqual([...store.files], savedBefore, 'nothing new persisted');
    assert.deepEqual(reg.listK8s(), [deathstar()].map((s) => ({ ...s, backends: s.backends })));
    dp.failOn = undefined;
    reg.put(deathstar({ name: 'other', clusterIP: '10.96.0.13' }));
    assert.equal(reg.listFrontends().at(-1)!.id, 2, 'the refused change\'s id was given back');
  });

  it('rejects a bad service before touching anything', () => {
    const { dp, reg } = setup();
    const err = rejection(() => reg.put({ ...deathstar(), clusterIP: '10.96.0.300' }));
    assert.equal(err.path, 'clusterIP');
    assert.deepEqual(dp.log, []);
  });

  describe('after a restart', () => {
    function restarted(store: MemoryStore, dp: FakeDatapath, nodeIps = ['192.168.50.2']) {
      return setup({ store, dp, nodeIps });
    }

    it('adopts its frontends under the same ids and writes nothing when the kernel agrees', () => {
      const first = setup();
      first.reg.put(deathstar());
      first.reg.put(deathstar({ name: 'other', clusterIP: '10.96.0.13' }));
      first.reg.delete('default', 'deathstar');
      first.dp.log.length = 0;
      const writes = first.store.writes;
      const second = restarted(first.store, first.dp);
      assert.deepEqual(first.dp.log, []);
      assert.equal(first.store.writes, writes, 'nothing to persist either');
      assert.deepEqual(second.reg.listFrontends().map((f) => [f.id, f.service.name]), [[2, 'other']]);
      second.reg.put(deathstar({ name: 'third', clusterIP: '10.96.0.14' }));
      assert.equal(second.reg.listFrontends().at(-1)!.id, 3, 'the allocation cursor survives too');
      second.reg.delete('default', 'other');
      second.reg.delete('default', 'third');
      assert.equal(second.store.files.size, 0);
      const third = restarted(second.store, first.dp);
      third.reg.put(deathstar({ name: 'fourth', clusterIP: '10.96.0.15' }));
      assert.equal(third.reg.listFrontends()[0]!.id, 4, 'even when the services that held it are gone');
    });

    it('removes frontends it does not know and rewrites what differs', () => {
      const first = setup();
      first.reg.put(deathstar());
      const snapshot = new MemoryStore();
      for (const [k, v] of first.store.files) snapshot.files.set(k, structuredClone(v));
      first.reg.put(deathstar({ name: 'unsaved', clusterIP: '10.96.0.13' })); // written, then "crash" before it counts
      first.dp.frontends.get(1)!.backends.pop(); // the kernel lost a backend
      first.dp.log.length = 0;
      const second = restarted(snapshot, first.dp);
      assert.deepEqual(first.dp.log.sort(), ['delete 2', 'sync 1']);
      assert.equal(first.dp.frontends.get(1)!.backends.length, 2);
      assert.deepEqual([...first.dp.frontends.keys()], [1]);
      assert.equal(second.reg.listK8s().length, 1);
    });

    it('moves NodePort frontends to the node\'s current addresses', () => {
      const first = setup({ nodeIps: ['192.168.50.2'] });
      first.reg.put(deathstar({ type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] }));
      const second = restarted(first.store, first.dp, ['192.168.60.2']);
      assert.deepEqual(second.reg.listFrontends().map((f) => `${f.id} ${f.frontend.ip}`), ['1 10.96.0.12', '3 192.168.60.2']);
      assert.deepEqual([...first.dp.frontends.keys()].sort(), [1, 3]);
      assert.deepEqual(first.store.files.get('default.deathstar')!.frontendIds, { '10.96.0.12:80/TCP': 1, '192.168.60.2:30080/TCP': 3 }, 'the new id is persisted');
    });

    it('refuses unreadable state with ESTATE', () => {
      const store = new MemoryStore();
      store.files.set('default.deathstar', { service: { ...deathstar(), clusterIP: 'nope' }, frontendIds: {}, idCursor: 0 });
      const err = rejection(() => new ServiceRegistry({ datapath: new FakeDatapath(), nodeIps: [], store }));
      assert.equal(err.code, 'ESTATE');
      assert.match(err.message, /clusterIP/);
      store.files.set('default.deathstar', { service: deathstar(), frontendIds: { '10.96.0.12:80/TCP': 0 }, idCursor: 0 });
      assert.equal(rejection(() => new ServiceRegistry({ datapath: new FakeDatapath(), nodeIps: [], store })).code, 'ESTATE');
    });
  });
});

describe('ServiceRegistry: terminating backends as a fallback (KEP-1669)', () => {
  const term = (ip: string) => ({ ip, ports: { http: 80 }, terminating: true });
  const states = (f: LbFrontend | undefined) => f?.backends.map((b) => `${b.ip} ${b.state}`);

  it('gives the kernel only the active backends as active while one is left', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ backends: [{ ip: '10.244.1.21', ports: { http: 80 } }, term('10.244.1.20')] }));
    assert.deepEqual(states(dp.frontends.get(1)), ['10.244.1.20 terminating', '10.244.1.21 active']);
  });

  it('sends new connections to the serving-and-terminating backends when no backend is ready, and says they terminate', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ backends: [term('10.244.1.21'), term('10.244.1.20')] }));
    assert.deepEqual(states(dp.frontends.get(1)), ['10.244.1.20 active', '10.244.1.21 active'], 'the datapath balances over them');
    assert.deepEqual(reg.listFrontends(dp.realizedServices())[0]!.backends.map((b) => `${b.ip} ${b.state}`),
      ['10.244.1.20 terminating', '10.244.1.21 terminating'], 'the listing still shows them terminating');
  });

  it('falls back per frontend: a port whose only backend terminates uses it, another port keeps its active one', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'admin', port: 81, protocol: 'TCP' }],
      backends: [{ ip: '10.244.1.21', ports: { http: 80 } }, { ip: '10.244.1.20', ports: { http: 80, admin: 81 }, terminating: true }],
    }));
    assert.deepEqual(states(dp.frontends.get(1)), ['10.244.1.20 terminating', '10.244.1.21 active']);
    assert.deepEqual(states(dp.frontends.get(2)), ['10.244.1.20 active']);
  });

  it('goes back to the ready backend when one appears, keeping the terminating one for its established connections', () => {
    const { dp, reg } = setup();
    reg.put(deathstar({ backends: [term('10.244.1.20')] }));
    assert.deepEqual(states(dp.frontends.get(1)), ['10.244.1.20 active']);
    const stats = reg.put(deathstar({ backends: [term('10.244.1.20'), { ip: '10.244.1.22', ports: { http: 80 } }] }));
    assert.equal(stats.written, 1);
    assert.deepEqual(states(dp.frontends.get(1)), ['10.244.1.20 terminating', '10.244.1.22 active']);
  });

  it('is what reconcile compares the kernel with after a restart: nothing rewritten', () => {
    const store = new MemoryStore();
    const dp = new FakeDatapath();
    setup({ store, dp }).reg.put(deathstar({ backends: [term('10.244.1.20')] }));
    const again = new ServiceRegistry({ datapath: dp, nodeIps: ['192.168.50.2'], store });
    assert.deepEqual(again.reconcile(), { written: 0, deleted: 0 });
  });
});
