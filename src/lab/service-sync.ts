import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { AgentClient } from '../api/client.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { writeDnsRecords } from '../workload/dns-records-file.js';
import { dnsRecords } from './cluster-dns.js';
import type { LabContext } from './context.js';
import { canonicalJson } from './deployment-naming.js';
import { labPaths } from './names.js';
import { podStatus } from './pod.js';
import { podKey, serviceModel, type BackendInputs } from './service-backends.js';
import type { PodRecord } from './state.js';

/**
 * Keeps the agents' services and the cluster DNS records in line with the
 * lab's state. The lab has no controller running between commands: every
 * mutating lab command ends with a sync (Lab.mutate), and a pod being
 * deleted is first shown terminating. Only services whose backends or spec
 * changed are sent again: each record remembers a digest of what its agents
 * were last given.
 */

export interface SyncOptions {
  /** Pods about to be deleted: their backends stay, terminating (no new connections). */
  terminating?: PodRecord[];
}

function digest(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16);
}

/**
 * Pushes every service whose model changed to every node's agent, then
 * rewrites the DNS records when they changed. An agent that cannot be
 * reached or lacks the route is a warning, and the service is sent again by
 * the next lab command. A service an agent refuses (EINVAL; `lab apply`
 * checks services with the agents' rules first, so this is a safety net) is
 * not kept half-applied: it leaves the lab's state and every agent, the
 * other services are synced, and then the refusal is thrown.
 */
export async function syncServices(ctx: LabContext, opts: SyncOptions = {}): Promise<void> {
  const inputs = backendInputs(ctx, opts);
  const refused: MembraneError[] = [];
  for (const svc of [...ctx.state.services]) {
    const model = serviceModel(svc, inputs);
    if (!model) continue; // headless: DNS only
    const d = digest(model);
    if (svc.pushed === d) continue;
    let everywhere = true;
    let refusal: MembraneError | undefined;
    for (const node of ctx.state.nodes) {
      try {
        await new AgentClient(node.socket).putService(model);
      } catch (err) {
        if (err instanceof MembraneError && err.code === 'EINVAL') {
          refusal = new MembraneError('EINVAL', `service ${svc.namespace}/${svc.name} is not applied: the agent of ${node.name} refused it: ${err.message} (the lab removed it; fix it and apply it again)`, { cause: err, path: err.path ?? '' });
          break;
        }
        everywhere = false;
        ctx.out.warn(`warning: giving service ${svc.namespace}/${svc.name} to the agent of ${node.name} failed (the next lab command tries again): ${errorMessage(err)}`);
      }
    }
    if (refusal) {
      ctx.state.services = ctx.state.services.filter((s) => s !== svc);
      ctx.save();
      await forgetService(ctx, svc.namespace, svc.name);
      refused.push(refusal);
      continue;
    }
    if (everywhere) svc.pushed = d;
    else delete svc.pushed;
    ctx.save();
  }
  await syncDnsRecords(ctx, inputs);
  if (refused.length > 0) throw refused[0]!;
}

/** What a service's backends are computed from: the lab's pods and slices, readiness asked once per pod. */
export function backendInputs(ctx: LabContext, opts: SyncOptions = {}): BackendInputs {
  const ready = new Map<PodRecord, boolean>();
  return {
    pods: ctx.state.pods,
    slices: ctx.state.endpointSlices,
    isReady: (pod) => {
      let r = ready.get(pod);
      if (r === undefined) ready.set(pod, r = podStatus(ctx.lab, pod).ready);
      return r;
    },
    terminating: new Set((opts.terminating ?? []).map(podKey)),
  };
}

/** Tells every agent the service is gone; one that never had it is fine. */
export async function forgetService(ctx: LabContext, namespace: string, name: string): Promise<void> {
  for (const node of ctx.state.nodes) {
    try {
      await new AgentClient(node.socket).deleteService(namespace, name);
    } catch (err) {
      if (err instanceof MembraneError && err.code === 'ENOTFOUND' && !/no such API path/.test(err.message)) continue;
      ctx.out.warn(`warning: removing service ${namespace}/${name} from the agent of ${node.name} failed: ${errorMessage(err)}`);
    }
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Rewrites the DNS records file (atomically) when what it should say
 * differs from what it says. Headless services list their ready backends.
 */
export async function syncDnsRecords(ctx: LabContext, inputs: BackendInputs = backendInputs(ctx)): Promise<void> {
  const file = labPaths(ctx.lab).dnsRecords;
  const records = dnsRecords(ctx.state, inputs);
  if (canonicalJson(readJson(file)) === canonicalJson(records)) return;
  await writeDnsRecords(file, records);
}
