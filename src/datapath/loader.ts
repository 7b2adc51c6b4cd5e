/**
 * Loads the endpoint datapath object (bpf/out/lxc.bpf.o) through libbpf,
 * with every map pinned under the node's pin directory: an existing pin is
 * adopted as it is (so a restarted agent keeps conntrack, policy and
 * endpoints exactly as they were), a missing one is created and pinned.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';
import {
  BpfTcHook, BpfTcOpts, BpfTestRunOpts, TC_EGRESS, TC_F_REPLACE, TC_INGRESS, check, checkPtr, libbpfMessages, native,
} from './libbpf.js';
import { BpfMap } from './map.js';

export const LXC_OBJECT = fileURLToPath(new URL('../../bpf/out/lxc.bpf.o', import.meta.url));
export const BPFFS_ROOT = '/sys/fs/bpf';

export const MAP_NAMES = [
  'endpoints', 'ipcache', 'policy', 'conntrack', 'events', 'metrics', 'counters',
  'lb_services', 'lb_backends', 'lb_rev_nat', 'lb_affinity', 'lb_maglev', 'config',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

const PER_CPU = new Set<MapName>(['metrics', 'counters']);
/** tc filter handle and priority of membrane's programs on an endpoint's veth. */
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

export interface LoadOptions {
  objectPath?: string;
  /** Directory under bpffs for the map pins; none = unpinned (tests). */
  pinDir?: string;
}

export class LxcDatapath {
  private closed = false;

  private constructor(
    private readonly obj: unknown,
    readonly maps: Record<MapName, BpfMap>,
    readonly fromContainerFd: number,
    readonly toContainerFd: number,
    /** Maps whose pins existed before this load (adopted, not created). */
    readonly adoptedMaps: MapName[],
    readonly pinDir: string | undefined,
  ) {}

  static load(opts: LoadOptions = {}): LxcDatapath {
    const objectPath = opts.objectPath ?? LXC_OBJECT;
    if (!existsSync(objectPath)) {
      throw new MembraneError('EKERNEL', `datapath object ${objectPath} is missing; run scripts/setup.sh (it builds bpf/)`);
    }
    libbpfMessages(true);
    const obj = checkPtr(native.open(objectPath, null), `opening BPF object ${objectPath}`);
    try {
      const adopted: MapName[] = [];
      if (opts.pinDir) {
        mkdirSync(opts.pinDir, { recursive: true });
        const present = new Set(readdirSync(opts.pinDir));
        for (const name of MAP_NAMES) {
          const m = checkPtr(native.findMap(obj, name), `finding map ${name}`);
          check(native.mapSetPinPath(m, path.join(opts.pinDir, name)), `setting the pin path of map ${name}`);
          if (present.has(name)) adopted.push(name);
        }
      }
      check(native.load(obj), `loading ${path.basename(objectPath)} into the kernel`,
        'the verifier may have rejected a program, or a pinned map no longer matches its definition (remove the pin directory)');
      const maps = {} as Record<MapName, BpfMap>;
      for (const name of MAP_NAMES) {
        const m = checkPtr(native.findMap(obj, name), `finding map ${name}`);
        maps[name] = new BpfMap(name, native.mapFd(m), native.mapKeySize(m), native.mapValueSize(m), native.mapMaxEntries(m), PER_CPU.has(name));
      }
      const prog = (n: string) => check(native.programFd(checkPtr(native.findProgram(obj, n), `finding program ${n}`)), `program ${n}`);
      const dp = new LxcDatapath(obj, maps, prog('from_container'), prog('to_container'), adopted, opts.pinDir);
      libbpfMessages(false);
      return dp;
    } catch (err) {
      native.close(obj);
      throw err;
    }
  }

  /**
   * Attaches from_container to tc ingress and to_container to tc egress of
   * the host-side veth `ifindex` (in the caller's network namespace),
   * atomically replacing membrane's earlier programs there.
   */
  attach(ifindex: number): void {
    for (const [point, fd, label] of [[TC_INGRESS, this.fromContainerFd, 'ingress'], [TC_EGRESS, this.toContainerFd, 'egress']] as const) {
      const hook = { sz: koffi.sizeof(BpfTcHook), ifindex, attach_point: point, parent: 0 };
      const ret = native.tcHookCreate(hook);
      if (ret < 0 && ret !== -17 /* EEXIST: clsact already there */) check(ret, `creating the clsact qdisc on ifindex ${ifindex}`);
      const opts = { sz: koffi.sizeof(BpfTcOpts), prog_fd: fd, flags: TC_F_REPLACE, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
      check(native.tcAttach(hook, opts), `attaching the ${label} program to ifindex ${ifindex}`);
    }
  }

  /** Removes membrane's programs from `ifindex`; a missing link or filter is not an error. */
  detach(ifindex: number): void {
    for (const point of [TC_INGRESS, TC_EGRESS]) {
      const hook = { sz: koffi.sizeof(BpfTcHook), ifindex, attach_point: point, parent: 0 };
      const opts = { sz: koffi.sizeof(BpfTcOpts), prog_fd: 0, flags: 0, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
      const ret = native.tcDetach(hook, opts);
      if (ret < 0 && ret !== -2 && ret !== -19 && ret !== -22) check(ret, `detaching from ifindex ${ifindex}`);
    }
  }

  /** Whether membrane's ingress program is attached to `ifindex`. */
  isAttached(ifindex: number): boolean {
    const hook = { sz: koffi.sizeof(BpfTcHook), ifindex, attach_point: TC_INGRESS, parent: 0 };
    const opts = { sz: koffi.sizeof(BpfTcOpts), prog_fd: 0, flags: 0, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
    return native.tcQuery(hook, opts) === 0;
  }

  /**
   * Runs a program once on `packet` with BPF_PROG_TEST_RUN. `ifindex` sets
   * skb->ifindex (1 = loopback, which every namespace has), `mark`
   * skb->mark. Returns the verdict and the packet as the program left it.
   */
  testRun(program: 'from_container' | 'to_container', packet: Buffer, ifindex = 1, mark = 0): { retval: number; durationNs: number; packet: Buffer } {
    const ctx = Buffer.alloc(192); // struct __sk_buff
    ctx.writeUInt32LE(mark, 8);
    ctx.writeUInt32LE(ifindex, 40);
    const out = Buffer.alloc(packet.length + 256);
    const opts = {
      sz: koffi.sizeof(BpfTestRunOpts), data_in: packet, data_out: out, data_size_in: packet.length, data_size_out: out.length,
      ctx_in: ctx, ctx_out: null, ctx_size_in: ctx.length, ctx_size_out: 0, retval: 0, repeat: 1, duration: 0, flags: 0, cpu: 0, batch_size: 0,
    };
    const fd = program === 'from_container' ? this.fromContainerFd : this.toContainerFd;
    check(native.testRun(fd, opts), `BPF_PROG_TEST_RUN of ${program}`);
    return { retval: opts.retval, durationNs: opts.duration, packet: out.subarray(0, opts.data_size_out) };
  }

  /** Releases the object (program and map fds). Attached programs and pinned maps stay in the kernel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.obj);
  }
}
