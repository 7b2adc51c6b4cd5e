/**
 * The TypeScript codecs must agree with the C layouts: every struct in
 * layout.ts is compared, member by member, with the BTF of the compiled
 * datapath object.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as layout from './layout.js';
import { ALL_LAYOUTS, LB_MAGLEV_SIZE, fieldSize } from './layout.js';
import { LXC_OBJECT } from './loader.js';
import { REASONS, REASONS_FILE } from './reasons.js';

interface BtfType { id: number; kind: string; name?: string; size?: number; members?: { name: string; type_id: number; bits_offset: number }[]; type_id?: number; nr_elems?: number }

function btfStructs(): Map<string, BtfType> {
  const json = JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', LXC_OBJECT, '-j'], { encoding: 'utf8' })) as { types: BtfType[] };
  const byName = new Map<string, BtfType>();
  for (const t of json.types) if (t.kind === 'STRUCT' && t.name) byName.set(t.name, t);
  return byName;
}

describe('datapath layouts', () => {
  const structs = btfStructs();
  for (const layout of ALL_LAYOUTS) {
    it(`codec ${layout.name} matches the BTF of the compiled object`, () => {
      const t = structs.get(layout.name);
      assert.ok(t, `struct ${layout.name} is in the object's BTF`);
      assert.equal(layout.size, t.size, `size of ${layout.name}`);
      const named = layout.fields.filter((f) => f.name !== '');
      const cMembers = t.members!.filter((m) => !m.name.startsWith('pad'));
      assert.deepEqual(
        named.map((f) => f.offset),
        cMembers.map((m) => m.bits_offset / 8),
        `member offsets of ${layout.name}: ${cMembers.map((m) => m.name).join(', ')}`,
      );
      // every byte of the struct is described exactly once
      const covered = layout.fields.reduce((n, f) => n + fieldSize(f), 0);
      assert.equal(covered, layout.size, `fields of ${layout.name} cover the struct`);
    });
  }

  it('sizes the Maglev table value as LB_MAGLEV_SIZE backend ids', () => {
    assert.equal(structs.get('lb_maglev_table')?.size, LB_MAGLEV_SIZE * 4);
  });

  it('agrees with layout.h on the constants of marks, route table, conntrack kinds and flags, verdict, trace point', () => {
    const header = readFileSync(new URL('../../bpf/lib/layout.h', import.meta.url), 'utf8');
    const defined = (name: string) => {
      const m = new RegExp(`^#define ${name} (\\S+)`, 'm').exec(header);
      assert.ok(m, `layout.h defines ${name}`);
      return Number(m[1]);
    };
    for (const name of ['MARK_MAGIC_MASK', 'MARK_MAGIC_TO_PROXY', 'MARK_MAGIC_FROM_PROXY', 'PROXY_ROUTE_TABLE', 'CT_F_PROXY_REDIRECT',
      'CT_F_PROXY_UPSTREAM', 'VERDICT_REDIRECTED', 'OBS_TO_PROXY', 'MARK_MAGIC_NODEPORT', 'CT_DIR_SERVICE', 'CT_DIR_NODEPORT'] as const) {
      assert.equal(layout[name], defined(name), name);
    }
  });

  it('reads every reason from the one reasons table, with the codes users know', () => {
    assert.equal(REASONS.get(133)?.description, 'Policy denied');
    assert.equal(REASONS.get(181)?.description, 'Policy denied by denylist');
    assert.equal(REASONS.get(133)?.hubble, 'POLICY_DENIED');
    assert.equal(REASONS.get(181)?.hubble, 'POLICY_DENY');
    assert.equal(REASONS.get(158)?.description, 'Service backend not found');
    assert.equal(REASONS.get(158)?.hubble, 'SERVICE_BACKEND_NOT_FOUND');
    const lines = readFileSync(REASONS_FILE, 'utf8').split('\n').filter((l) => l.startsWith('REASON('));
    assert.equal(REASONS.size, lines.length, 'every REASON line parses');
  });
});
