/**
 * Bindings to the system libbpf (libbpf.so.1) through koffi. This is the only
 * file that declares native signatures; everything else goes through the
 * typed wrappers in loader.ts, map.ts and ringbuf.ts.
 *
 * libbpf 1.x conventions: functions returning int give 0 or -errno; functions
 * returning pointers give NULL and set errno.
 */
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';

const lib = koffi.load('libbpf.so.1');

export const BpfObjectPtr = koffi.pointer('bpf_object', koffi.opaque());
export const BpfMapPtr = koffi.pointer('bpf_map', koffi.opaque());
export const BpfProgramPtr = koffi.pointer('bpf_program', koffi.opaque());
export const RingBufferPtr = koffi.pointer('ring_buffer', koffi.opaque());

export const BpfTcHook = koffi.struct('bpf_tc_hook', {
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int',
  parent: 'uint32_t',
});

export const BpfTcOpts = koffi.struct('bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});

export const BpfTestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

export const RingBufferSampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

export const TC_INGRESS = 1;
export const TC_EGRESS = 2;
export const TC_F_REPLACE = 1;

export const native = {
  open: lib.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
  load: lib.func('int bpf_object__load(bpf_object *obj)'),
  close: lib.func('void bpf_object__close(bpf_object *obj)'),
  findMap: lib.func('bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)'),
  findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)'),
  nextMap: lib.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *map)'),
  mapName: lib.func('const char *bpf_map__name(bpf_map *map)'),
  mapFd: lib.func('int bpf_map__fd(bpf_map *map)'),
  mapSetPinPath: lib.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  mapIsInternal: lib.func('bool bpf_map__is_internal(bpf_map *map)'),
  mapKeySize: lib.func('uint32_t bpf_map__key_size(bpf_map *map)'),
  mapValueSize: lib.func('uint32_t bpf_map__value_size(bpf_map *map)'),
  mapMaxEntries: lib.func('uint32_t bpf_map__max_entries(bpf_map *map)'),
  programFd: lib.func('int bpf_program__fd(bpf_program *prog)'),
  objGet: lib.func('int bpf_obj_get(const char *path)'),
  update: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  lookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
  delete: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
  nextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next)'),
  tcHookCreate: lib.func('int bpf_tc_hook_create(bpf_tc_hook *hook)'),
  tcHookDestroy: lib.func('int bpf_tc_hook_destroy(bpf_tc_hook *hook)'),
  tcAttach: lib.func('int bpf_tc_attach(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
  tcDetach: lib.func('int bpf_tc_detach(const bpf_tc_hook *hook, const bpf_tc_opts *opts)'),
  tcQuery: lib.func('int bpf_tc_query(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
  testRun: lib.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)'),
  ringBufferNew: lib.func('ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, void *opts)'),
  ringBufferPoll: lib.func('int ring_buffer__poll(ring_buffer *rb, int timeout_ms)'),
  ringBufferConsume: lib.func('int ring_buffer__consume(ring_buffer *rb)'),
  ringBufferFree: lib.func('void ring_buffer__free(ring_buffer *rb)'),
  strerror: lib.func('int libbpf_strerror(int err, _Out_ char *buf, size_t size)'),
  setPrint: lib.func('void *libbpf_set_print(void *fn)'),
};

let defaultPrint: unknown = null;
let quiet = false;

/**
 * libbpf's own stderr messages: wanted while loading (the verifier's log
 * explains a rejected program), noise afterwards (attaching to a veth
 * whose clsact qdisc exists prints a kernel "exclusivity" message for an
 * EEXIST membrane expects). Errors are reported by membrane either way.
 */
export function libbpfMessages(on: boolean): void {
  if (on === !quiet) return;
  if (on) {
    native.setPrint(defaultPrint);
    quiet = false;
  } else {
    defaultPrint = native.setPrint(null);
    quiet = true;
  }
}

const libc = koffi.load('libc.so.6');
export const libcNative = {
  close: libc.func('int close(int fd)'),
};

/** The text for a negative libbpf return or an errno. */
export function bpfErrorText(err: number): string {
  const buf = Buffer.alloc(256);
  native.strerror(err < 0 ? err : -err, buf, buf.length);
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
}

/** Throws a MembraneError (EKERNEL) for a negative libbpf return, naming the operation. */
export function check(ret: number, operation: string, hint?: string): number {
  if (ret < 0) {
    const text = bpfErrorText(ret);
    let msg = `${operation}: ${text} (errno ${-ret})`;
    if (ret === -1 || ret === -13) msg += '; this needs root (CAP_BPF and CAP_NET_ADMIN)';
    else if (hint) msg += `; ${hint}`;
    throw new MembraneError('EKERNEL', msg);
  }
  return ret;
}

/** Throws for a NULL pointer return, using errno. */
export function checkPtr<T>(ptr: T | null, operation: string, hint?: string): T {
  if (ptr === null) check(-(koffi.errno() || 22), operation, hint);
  return ptr as T;
}
