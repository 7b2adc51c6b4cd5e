/**
 * The node's services and their load-balancer frontends. A service (as the
 * cluster sends it) becomes frontends with stable ids (ids.ts); every change
 * is diffed against what the kernel holds, so only frontends that differ
 * are rewritten, and it is all-or-nothing: when the kernel refuses a write,
 * what was already written goes back and the registry stays as it was.
 *
 * The kernel is reached through `ServiceDatapath` and state is persisted
 * through a `ServiceStore` (store.ts), both given by the agent: the
 * decisions here are plain logic, unit-tested with fakes. Every operation
 * costs in proportion to the service changed, not to the number of services.
 */
import { MembraneError, ValidationError, errorMessage } from '../common/errors.js';
import type { K8sServiceModel, ServiceFrontendModel } from '../api/types.js';
import type { ServiceDatapath } from './datapath-port.js';
import { type DesiredFrontend, desiredFrontends, sameFrontend, toLbFrontend } from './frontends.js';
import { FrontendIds } from './ids.js';
import { withTerminatingFallback } from './terminating-fallback.js';
import type { LbFrontend } from './lb-types.js';
import type { ServiceStore } from './store.js';
import { validateK8sService } from './validate.js';

export interface ServiceRegistryOptions {
  datapath: ServiceDatapath;
  /** This node's addresses: the NodePort frontends' IPs. */
  nodeIps: readonly string[];
  store: ServiceStore;
}

export interface ServiceChangeStats {
  /** Frontends written to the kernel (new or changed). */
  written: number;
  /** Frontends removed from the kernel. */
  deleted: number;
  /** Frontends of the service left unchanged. */
  unchanged: number;
}

interface FrontendState {
  service: string;
  desired: DesiredFrontend;
}

function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function compareServices(a: K8sServiceModel, b: K8sServiceModel): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

/** The field of a service that puts a frontend there, for a conflict's error. */
function frontendField(svc: K8sServiceModel, f: DesiredFrontend): string {
  const i = svc.ports.findIndex((p) => p.name === f.portName);
  return f.type === 'NodePort' ? `ports[${i}].nodePort` : `ports[${i}].port`;
}

/** What the kernel is given for a frontend: its backends, with terminating ones taking new connections when no active one is left. */
function kernelFrontend(id: number, f: DesiredFrontend): LbFrontend {
  return withTerminatingFallback(toLbFrontend(id, f));
}

export class ServiceRegistry {
  private readonly datapath: ServiceDatapath;
  private readonly nodeIps: readonly string[];
  private readonly store: ServiceStore;
  private readonly services = new Map<string, K8sServiceModel>();
  /** Frontend key -> owner and desired state. */
  private readonly frontends = new Map<string, FrontendState>();
  /** Service key -> its frontend keys. */
  private readonly byService = new Map<string, string[]>();
  private readonly ids = new FrontendIds();
  /** What the kernel holds, by frontend id (read at reconcile, then kept write by write). */
  private readonly kernel = new Map<number, LbFrontend>();
  /** Services whose persisted ids are behind (a node address new since): saved by reconcile(). */
  private readonly pendingSave = new Set<string>();

  /** Loads the store; throws ESTATE when it is unreadable. Touches no kernel state: call reconcile() for that. */
  constructor(opts: ServiceRegistryOptions) {
    this.datapath = opts.datapath;
    this.nodeIps = [...opts.nodeIps];
    this.store = opts.store;
    const saved = this.store.load();
    const fresh: string[] = [];
    try {
      for (const entry of saved.services) {
        const svc = validateK8sService(entry.service);
        const key = serviceKey(svc.namespace, svc.name);
        if (this.services.has(key)) throw new MembraneError('ESTATE', `service ${key} is persisted twice`);
        this.services.set(key, svc);
        const wanted = desiredFrontends(svc, this.nodeIps);
        for (const f of wanted) {
          const owner = this.frontends.get(f.key);
          if (owner) throw new MembraneError('ESTATE', `frontend ${f.key} belongs to both ${owner.service} and ${key}`);
          this.frontends.set(f.key, { service: key, desired: f });
          // A frontend without a persisted id (a node address new since) gets one below.
          const id = entry.frontendIds[f.key];
          if (id === undefined) fresh.push(f.key);
          else this.ids.restore(f.key, id);
        }
        this.byService.set(key, wanted.map((f) => f.key));
      }
    } catch (cause) {
      if (cause instanceof MembraneError && cause.code === 'ESTATE') throw cause;
      throw new MembraneError('ESTATE', `persisted service state is invalid (${errorMessage(cause)}); move it away to start over`, { cause });
    }
    this.ids.advanceCursor(saved.idCursor);
    for (const key of fresh) this.ids.acquire(key);
    for (const key of fresh) this.pendingSave.add(this.frontends.get(key)!.service);
  }

  /**
   * Makes the kernel hold exactly the registry's frontends: removes those it
   * does not know (services deleted while the agent was away, or never
   * persisted), writes those missing or different. Call once at start.
   */
  reconcile(): { written: number; deleted: number } {
    const stats = { written: 0, deleted: 0 };
    this.kernel.clear();
    for (const f of this.datapath.realizedServices()) this.kernel.set(f.id, f);
    const wanted = new Map<number, LbFrontend>();
    for (const [key, st] of this.frontends) {
      const id = this.ids.get(key)!;
      wanted.set(id, kernelFrontend(id, st.desired));
    }
    for (const id of [...this.kernel.keys()]) {
      if (wanted.has(id)) continue;
      this.datapath.deleteService(id);
      this.kernel.delete(id);
      stats.deleted++;
    }
    for (const [id, f] of wanted) {
      const have = this.kernel.get(id);
      if (have && sameFrontend(have, f)) continue;
      this.datapath.syncService(f);
      this.kernel.set(id, f);
      stats.written++;
    }
    for (const key of this.pendingSave) this.save(key);
    this.pendingSave.clear();
    return stats;
  }

  /**
   * Creates or replaces a service (`body` as the API received it; `where`
   * its namespace and name from the path). Throws ValidationError for a bad
   * service or a frontend another service owns, EEXHAUSTED when ids run
   * out, and the kernel's error (after undoing what was written) when a
   * write fails.
   */
  put(body: unknown, where?: { namespace: string; name: string }): ServiceChangeStats {
    const svc = validateK8sService(body, where);
    const key = serviceKey(svc.namespace, svc.name);
    const wanted = desiredFrontends(svc, this.nodeIps);
    for (const f of wanted) {
      const owner = this.frontends.get(f.key);
      if (owner && owner.service !== key) {
        throw new ValidationError(frontendField(svc, f), `${f.key} is already a frontend of service ${owner.service}`);
      }
    }
    const stats = this.apply(key, wanted);
    this.services.set(key, svc);
    this.save(key);
    return stats;
  }

  /** Deletes a service and its frontends; false when there was none by that name. */
  delete(namespace: string, name: string): boolean {
    const key = serviceKey(namespace, name);
    if (!this.services.has(key)) return false;
    this.apply(key, []);
    this.services.delete(key);
    this.byService.delete(key);
    this.store.remove(namespace, name, this.ids.cursor);
    return true;
  }

  /**
   * Moves the service `key` from its current frontends to `wanted`: new and
   * changed frontends first, gone ones last. On a kernel error every step
   * taken is undone in reverse, then the error is thrown.
   */
  private apply(key: string, wanted: DesiredFrontend[]): ServiceChangeStats {
    const stats: ServiceChangeStats = { written: 0, deleted: 0, unchanged: 0 };
    const wantedKeys = new Set(wanted.map((f) => f.key));
    const gone = (this.byService.get(key) ?? []).filter((k) => !wantedKeys.has(k));
    const newKeys: string[] = [];
    /** Kernel state before each step: undefined = the frontend was absent. */
    const undo: { id: number; before: LbFrontend | undefined }[] = [];
    try {
      for (const f of wanted) {
        if (this.ids.get(f.key) === undefined) newKeys.push(f.key);
        const id = this.ids.acquire(f.key);
        const lb = kernelFrontend(id, f);
        const have = this.kernel.get(id);
        if (have && sameFrontend(have, lb)) {
          stats.unchanged++;
          continue;
        }
        undo.push({ id, before: have });
        this.datapath.syncService(lb);
        this.kernel.set(id, lb);
        stats.written++;
      }
      for (const k of gone) {
        const id = this.ids.get(k)!;
        undo.push({ id, before: this.kernel.get(id) });
        this.datapath.deleteService(id);
        this.kernel.delete(id);
        stats.deleted++;
      }
    } catch (err) {
      this.undo(undo);
      for (const k of newKeys) this.ids.release(k);
      throw err;
    }
    for (const k of gone) {
      this.frontends.delete(k);
      this.ids.release(k);
    }
    for (const f of wanted) this.frontends.set(f.key, { service: key, desired: f });
    this.byService.set(key, wanted.map((f) => f.key));
    return stats;
  }

  private undo(steps: { id: number; before: LbFrontend | undefined }[]): void {
    for (const { id, before } of steps.reverse()) {
      try {
        if (before) this.datapath.syncService(before);
        else this.datapath.deleteService(id);
        if (before) this.kernel.set(id, before);
        else this.kernel.delete(id);
      } catch {
        // Unknown now: the next change of this frontend rewrites it.
        this.kernel.delete(id);
      }
    }
  }

  private save(key: string): void {
    const frontendIds = Object.fromEntries((this.byService.get(key) ?? []).map((k) => [k, this.ids.get(k)!]));
    this.store.save({ service: this.services.get(key)!, frontendIds }, this.ids.cursor);
  }

  /** The services as received, sorted by namespace, then name. */
  /** One service as last put (the registry's own object: do not change it), or undefined. */
  get(namespace: string, name: string): Readonly<K8sServiceModel> | undefined {
    return this.services.get(serviceKey(namespace, name));
  }

  listK8s(): K8sServiceModel[] {
    return [...this.services.values()].sort(compareServices).map((s) => structuredClone(s));
  }

  /** The service a frontend id belongs to (flows name it). */
  serviceById(id: number): { namespace: string; name: string } | undefined {
    const key = this.ids.keyOf(id);
    const st = key === undefined ? undefined : this.frontends.get(key);
    if (!st) return undefined;
    const svc = this.services.get(st.service);
    return svc && { namespace: svc.namespace, name: svc.name };
  }

  /**
   * Every frontend, by id, as `membrane service list` shows it. Backend ids
   * are the datapath's: read from `realized` (the kernel's frontends), 0
   * for a backend the kernel does not hold.
   */
  listFrontends(realized: readonly { id: number; backends: { ip: string; port: number; id: number }[] }[] = []): ServiceFrontendModel[] {
    const backendIds = new Map<string, number>();
    for (const f of realized) for (const b of f.backends) backendIds.set(`${f.id}|${b.ip}:${b.port}`, b.id);
    const out: ServiceFrontendModel[] = [];
    for (const [key, st] of this.frontends) {
      const id = this.ids.get(key)!;
      const svc = this.services.get(st.service);
      const f = st.desired;
      if (!svc) continue;
      out.push({
        id,
        frontend: { ip: f.ip, port: f.port, protocol: f.protocol },
        type: f.type,
        service: { namespace: svc.namespace, name: svc.name, portName: f.portName },
        algorithm: f.algorithm,
        affinityTimeoutSeconds: f.affinityTimeoutSec,
        backends: f.backends.map((b) => ({
          id: backendIds.get(`${id}|${b.ip}:${b.port}`) ?? 0, ip: b.ip, port: b.port, protocol: f.protocol, state: b.state,
          ...(b.pod ? { pod: { ...b.pod } } : {}),
        })),
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** One frontend by id; throws ENOTFOUND. */
  getFrontend(id: number, realized: Parameters<ServiceRegistry['listFrontends']>[0] = []): ServiceFrontendModel {
    const key = this.ids.keyOf(id);
    if (key === undefined || !this.frontends.has(key)) throw new MembraneError('ENOTFOUND', `service frontend ${id} not found`);
    return this.listFrontends(realized.filter((f) => f.id === id)).find((f) => f.id === id)!;
  }
}
