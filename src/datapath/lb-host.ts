/**
 * The node-device datapath (bpf/out/host.bpf.o): NodePort from outside the
 * node, as Cilium's bpf_host. Its from_netdev / to_netdev programs go on
 * tc ingress / egress of the node's external devices (the agent's
 * --devices). It shares every map with the endpoint datapath through the
 * node's pins, so it is loaded after LxcDatapath.load() with the same pin
 * directory (a second object loaded unpinned would get maps of its own).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';
import {
  BpfTcHook, BpfTcOpts, BpfTestRunOpts, TC_EGRESS, TC_F_REPLACE, TC_INGRESS, check, checkPtr, libbpfMessages, native,
} from './libbpf.js';
import { MAP_NAMES } from './loader.js';

export const HOST_OBJECT = fileURLToPath(new URL('../../bpf/out/host.bpf.o', import.meta.url));

export { CT_DIR_NODEPORT } from './layout.js';

/** tc filter handle and priority of membrane's programs on a node device (as on an endpoint's veth). */
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

export type HostProgram = 'from_netdev' | 'to_netdev';

export class HostDatapath {
  private closed = false;

  private constructor(private readonly obj: unknown, readonly fromNetdevFd: number, readonly toNetdevFd: number) {}

  /**
   * Loads host.bpf.o with its maps taken from the pins in `pinDir` (those
   * the endpoint datapath made). Throws EKERNEL when the object is missing
   * or the kernel refuses it. The caller closes it.
   */
  static load(pinDir: string, objectPath = HOST_OBJECT): HostDatapath {
    if (!existsSync(objectPath)) {
      throw new MembraneError('EKERNEL', `node-device datapath object ${objectPath} is missing; run scripts/setup.sh (it builds bpf/)`);
    }
    libbpfMessages(true);
    const obj = checkPtr(native.open(objectPath, null), `opening BPF object ${objectPath}`);
    try {
      for (const name of MAP_NAMES) {
        const m = native.findMap(obj, name);
        if (m) check(native.mapSetPinPath(m, path.join(pinDir, name)), `setting the pin path of map ${name}`);
      }
      check(native.load(obj), `loading ${path.basename(objectPath)} into the kernel`,
        'the verifier may have rejected a program, or a pinned map no longer matches its definition (remove the pin directory)');
      const prog = (n: HostProgram) => check(native.programFd(checkPtr(native.findProgram(obj, n), `finding program ${n}`)), `program ${n}`);
      const dp = new HostDatapath(obj, prog('from_netdev'), prog('to_netdev'));
      libbpfMessages(false);
      return dp;
    } catch (err) {
      libbpfMessages(false);
      native.close(obj);
      throw err;
    }
  }

  /**
   * Attaches from_netdev to tc ingress and to_netdev to tc egress of device
   * `ifindex` (in the caller's network namespace), replacing membrane's
   * earlier programs there; a clsact qdisc already there is kept.
   */
  attach(ifindex: number): void {
    for (const [point, fd, label] of [[TC_INGRESS, this.fromNetdevFd, 'ingress'], [TC_EGRESS, this.toNetdevFd, 'egress']] as const) {
      const hook = { sz: koffi.sizeof(BpfTcHook), ifindex, attach_point: point, parent: 0 };
      const ret = native.tcHookCreate(hook);
      if (ret < 0 && ret !== -17 /* EEXIST */) check(ret, `creating the clsact qdisc on device ifindex ${ifindex}`);
      const opts = { sz: koffi.sizeof(BpfTcOpts), prog_fd: fd, flags: TC_F_REPLACE, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
      check(native.tcAttach(hook, opts), `attaching the node-device ${label} program to ifindex ${ifindex}`);
    }
  }

  /** Removes membrane's programs from device `ifindex`; a missing device or filter is not an error. */
  static detach(ifindex: number): void {
    for (const point of [TC_INGRESS, TC_EGRESS]) {
      const hook = { sz: koffi.sizeof(BpfTcHook), ifindex, attach_point: point, parent: 0 };
      const opts = { sz: koffi.sizeof(BpfTcOpts), prog_fd: 0, flags: 0, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
      const ret = native.tcDetach(hook, opts);
      if (ret < 0 && ret !== -2 && ret !== -19 && ret !== -22) check(ret, `detaching from device ifindex ${ifindex}`);
    }
  }

  /**
   * Runs a program once on `packet` with BPF_PROG_TEST_RUN (skb->ifindex =
   * `ifindex`). Returns the verdict, the packet and skb->mark as the program
   * left them.
   */
  testRun(program: HostProgram, packet: Buffer, ifindex = 1): { retval: number; packet: Buffer; mark: number } {
    const ctx = Buffer.alloc(192); // struct __sk_buff
    ctx.writeUInt32LE(ifindex, 40);
    const ctxOut = Buffer.alloc(ctx.length);
    const out = Buffer.alloc(packet.length + 256);
    const opts = {
      sz: koffi.sizeof(BpfTestRunOpts), data_in: packet, data_out: out, data_size_in: packet.length, data_size_out: out.length,
      ctx_in: ctx, ctx_out: ctxOut, ctx_size_in: ctx.length, ctx_size_out: ctxOut.length, retval: 0, repeat: 1, duration: 0, flags: 0, cpu: 0, batch_size: 0,
    };
    check(native.testRun(program === 'from_netdev' ? this.fromNetdevFd : this.toNetdevFd, opts), `BPF_PROG_TEST_RUN of ${program}`);
    return { retval: opts.retval, packet: out.subarray(0, opts.data_size_out), mark: ctxOut.readUInt32LE(8) };
  }

  /** Releases the object's fds; attached programs stay in the kernel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.obj);
  }
}
