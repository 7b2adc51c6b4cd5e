/**
 * Services in maps, against in-memory maps that log every write: the write
 * order that keeps packets from seeing a half state, backend id sharing and
 * freeing, and adoption of what an earlier agent left in the maps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../common/errors.js';
import { LB_MAGLEV_SIZE, lbBackend, lbService, lbServiceKey, intToIp4 } from './layout.js';
import { type LbFrontend, slotOrder, validateFrontend } from './lb.js';
import { type LbMap, LbMaps } from './lbmaps.js';

class FakeMap implements LbMap {
  readonly data = new Map<string, Buffer>();
  constructor(readonly name: string, readonly log: string[]) {}
  update(key: Buffer, value: Buffer): void {
    this.data.set(key.toString('hex'), Buffer.from(value));
    this.log.push(`${this.name} put ${this.describe(key, value)}`);
  }
  lookup(key: Buffer): Buffer | undefined {
    const v = this.data.get(key.toString('hex'));
    return v && Buffer.from(v);
  }
  delete(key: Buffer): boolean {
    const had = this.data.delete(key.toString('hex'));
    if (had) this.log.push(`${this.name} del ${this.describe(key)}`);
    return had;
  }
  *keys(): Generator<Buffer> {
    for (const k of [...this.data.keys()]) yield Buffer.from(k, 'hex');
  }
  *entries(): Generator<[Buffer, Buffer]> {
    for (const [k, v] of [...this.data]) yield [Buffer.from(k, 'hex'), Buffer.from(v)];
  }
  private describe(key: Buffer, value?: Buffer): string {
    if (this.name !== 'svc') return `${key.readUIntLE(0, key.length)}`;
    const k = lbServiceKey.decode(key);
    if (!value) return `slot${k.slot}`;
    const v = lbService.decode(value);
    return k.slot === 0 ? `master count=${v.count} total=${v.total}` : `slot${k.slot}=${v.backendId}`;
  }
}

function fakeMaps() {
  const log: string[] = [];
  const maps = { services: new FakeMap('svc', log), backends: new FakeMap('be', log), revNat: new FakeMap('rn', log), maglev: new FakeMap('mg', log) };
  return { log, maps };
}

const fe = (over: Partial<LbFrontend> = {}): LbFrontend => ({
  id: 7, vip: '10.96.0.10', port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0,
  backends: [{ ip: '10.0.0.1', port: 8080, state: 'active' }, { ip: '10.0.0.2', port: 8080, state: 'active' }],
  ...over,
});

describe('service frontends in maps', () => {
  it('refuses bad frontends naming the field', () => {
    assert.throws(() => validateFrontend(fe({ id: 0 })), (e: Error) => e instanceof ValidationError && /^id: /.test(e.message));
    assert.throws(() => validateFrontend(fe({ vip: '10.96.0' })), /vip: "10.96.0" is not an IPv4 address/);
    assert.throws(() => validateFrontend(fe({ protocol: 1 })), /protocol: 1 is not a service protocol/);
    assert.throws(() => validateFrontend(fe({ backends: [{ ip: '10.0.0.1', port: 70000, state: 'active' }] })), /backends\[0\]\.port/);
    assert.throws(() => validateFrontend(fe({ protocol: 132, backends: [{ ip: '10.0.0.1', port: 81, state: 'active' }] })), /backends\[0\]\.port: SCTP/);
    validateFrontend(fe({ protocol: 132, backends: [{ ip: '10.0.0.1', port: 80, state: 'active' }] }));
  });

  it('orders slots active first, counting a backend listed twice once', () => {
    const { active, terminating } = slotOrder(fe({
      backends: [
        { ip: '10.0.0.1', port: 1, state: 'terminating' }, { ip: '10.0.0.2', port: 1, state: 'active' },
        { ip: '10.0.0.2', port: 1, state: 'active' }, { ip: '10.0.0.3', port: 1, state: 'terminating' }, { ip: '10.0.0.3', port: 1, state: 'active' },
      ],
    }));
    assert.deepEqual(active.map((b) => b.ip), ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(terminating.map((b) => b.ip), ['10.0.0.1']);
  });

  it('writes backends and slots before the master on grow, and a second identical sync writes nothing', () => {
    const { log, maps } = fakeMaps();
    const lb = new LbMaps(maps);
    assert.deepEqual(lb.sync(fe()), { written: 6, deleted: 0 });
    assert.deepEqual(log, ['be put 1', 'be put 2', 'rn put 7', 'svc put slot1=1', 'svc put slot2=2', 'svc put master count=2 total=2']);
    log.length = 0;
    assert.deepEqual(lb.sync(fe()), { written: 0, deleted: 0 });
    assert.deepEqual(log, []);
  });

  it('shrinks: the master before stale slots, the removed backend last', () => {
    const { log, maps } = fakeMaps();
    const lb = new LbMaps(maps);
    lb.sync(fe({ backends: [1, 2, 3].map((i) => ({ ip: `10.0.0.${i}`, port: 80, state: 'active' as const })) }));
    log.length = 0;
    lb.sync(fe({ backends: [1, 3].map((i) => ({ ip: `10.0.0.${i}`, port: 80, state: 'active' as const })) }));
    assert.deepEqual(log, ['svc put slot2=3', 'svc put master count=2 total=2', 'svc del slot3', 'be del 2']);
  });

  it('keeps a terminating backend beyond the active count, where no new connection picks it', () => {
    const { log, maps } = fakeMaps();
    const lb = new LbMaps(maps);
    lb.sync(fe());
    log.length = 0;
    lb.sync(fe({ backends: [{ ip: '10.0.0.1', port: 8080, state: 'terminating' }, { ip: '10.0.0.2', port: 8080, state: 'active' }] }));
    assert.deepEqual(log, ['be put 1', 'svc put slot1=2', 'svc put master count=1 total=2', 'svc put slot2=1']);
    const [r] = lb.realized();
    assert.deepEqual(r!.backends, [{ ip: '10.0.0.2', port: 8080, state: 'active', id: 2 }, { ip: '10.0.0.1', port: 8080, state: 'terminating', id: 1 }]);
    assert.equal(lbBackend.decode(maps.backends.lookup(Buffer.from([1, 0, 0, 0]))!).flags, 1);
  });

  it('shares a backend id between frontends and frees it with the last one', () => {
    const { maps } = fakeMaps();
    const lb = new LbMaps(maps);
    lb.sync(fe());
    lb.sync(fe({ id: 8, port: 443, backends: [{ ip: '10.0.0.2', port: 8080, state: 'active' }] }));
    assert.deepEqual(lb.realized().map((f) => f.backends.map((b) => b.id)), [[1, 2], [2]]);
    lb.delete(7);
    assert.deepEqual([...maps.backends.keys()].map((k) => k.readUInt32LE(0)), [2]);
    lb.delete(8);
    assert.equal(maps.backends.data.size + maps.services.data.size + maps.revNat.data.size, 0);
  });

  it('refuses a second id on the same frontend address', () => {
    const lb = new LbMaps(fakeMaps().maps);
    lb.sync(fe());
    assert.throws(() => lb.sync(fe({ id: 9 })), /already belongs to service id 7/);
  });

  it('moves a frontend to a new address: new entries first, then the old master and slots', () => {
    const { log, maps } = fakeMaps();
    const lb = new LbMaps(maps);
    lb.sync(fe());
    log.length = 0;
    lb.sync(fe({ vip: '10.96.0.11' }));
    assert.deepEqual(log.map((l) => l.split(' ').slice(0, 2).join(' ')), ['rn put', 'svc put', 'svc put', 'svc put', 'svc del', 'svc del', 'svc del']);
    assert.equal(lb.realized()[0]!.vip, '10.96.0.11');
  });

  it('writes a Maglev table of active backends and drops it when the frontend goes back to random', () => {
    const { maps } = fakeMaps();
    const lb = new LbMaps(maps);
    lb.sync(fe({ algorithm: 'maglev' }));
    const t = maps.maglev.lookup(Buffer.from([7, 0, 0, 0]))!;
    assert.equal(t.length, LB_MAGLEV_SIZE * 4);
    const ids = new Set(Array.from({ length: LB_MAGLEV_SIZE }, (_, i) => t.readUInt32LE(i * 4)));
    assert.deepEqual([...ids].sort(), [1, 2]);
    lb.sync(fe({ algorithm: 'random' }));
    assert.equal(maps.maglev.data.size, 0);
  });

  it('adopts what the maps hold, and removes leftovers of an interrupted sync', () => {
    const { maps } = fakeMaps();
    const first = new LbMaps(maps);
    first.sync(fe({ affinityTimeoutSec: 300, algorithm: 'maglev', backends: [{ ip: '10.0.0.1', port: 8080, state: 'active' }, { ip: '10.0.0.3', port: 8080, state: 'terminating' }] }));
    // leftovers: an orphan backend and a slot beyond the master's total
    maps.backends.update(Buffer.from([99, 0, 0, 0]), lbBackend.encode({ ip: 1, port: 1, proto: 6 }));
    maps.services.update(lbServiceKey.encode({ vip: 0x0a60000a, dport: 80, slot: 5, proto: 6 }), lbService.encode({ backendId: 1 }));
    const second = new LbMaps(maps);
    assert.deepEqual(second.realized(), first.realized());
    assert.equal(maps.backends.data.size, 2);
    assert.equal(maps.services.data.size, 3);
    assert.equal(intToIp4(0x0a60000a), '10.96.0.10');
    assert.deepEqual(second.sync(first.realized()[0]!), { written: 0, deleted: 0 }, 'nothing to rewrite after adoption');
    second.sync(fe({ backends: [{ ip: '10.0.0.4', port: 8080, state: 'active' }] }));
    assert.equal(second.realized()[0]!.backends[0]!.id, 100, 'ids keep counting up past every id seen');
  });
});
