import { AgentClient } from '../api/client.js';
import type { PolicyRef } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import type { LabContext } from './context.js';
import { deploymentPodName } from './deployment-naming.js';
import { podResolvConf } from './cluster-dns.js';
import {
  isPolicy, RESOURCE_NAMES, type DeploymentObject, type EndpointSliceObject, type LabObject, type NamespaceObject, type PodObject,
  type PolicyObject, type ServiceObject,
} from './manifest.js';
import { changed, checkApplicable, isNoop, planDeployment, planPod, scheduleNode, type Action, type DeploymentTarget } from './plan.js';
import { createPod, deletePod, podMeta, type PodDesired } from './pod.js';
import { waitReady } from './readiness.js';
import { planServices, type AllocatedSpec } from './service-plan.js';
import { syncServices } from './service-sync.js';
import type { NodeRecord, PodRecord } from './state.js';

/**
 * `lab apply`: makes the lab match the objects, as `kubectl apply` does, and
 * reports `<resource>/<name> created|configured|unchanged` per object.
 * Namespaces go first, then all policies in one import (the agent validates
 * them all before enforcing any), then the rest in document order; pods are
 * waited for until ready. Services get their addresses before anything is
 * applied; their backends reach the agents when the command ends (Lab.mutate).
 */
export async function applyObjects(ctx: LabContext, objects: LabObject[]): Promise<void> {
  checkApplicable(objects, ctx.state);
  const serviceSpecs = planServices(objects, ctx.state);
  const newPods: PodRecord[] = [];
  for (const o of objects) if (o.kind === 'Namespace') await applyNamespace(ctx, o);
  const policies = objects.filter(isPolicy);
  if (policies.length > 0) await applyPolicies(ctx, policies);
  for (const o of objects) {
    switch (o.kind) {
      case 'Service':
        applyService(ctx, o, serviceSpecs.get(o)!);
        break;
      case 'EndpointSlice':
        applyEndpointSlice(ctx, o);
        break;
      case 'Deployment':
        newPods.push(...await applyDeployment(ctx, o));
        break;
      case 'Pod':
        newPods.push(...await applyPod(ctx, o));
        break;
      default:
        break; // namespaces and policies: done above
    }
  }
  await waitReady(ctx.lab, newPods);
}

function report(ctx: LabContext, o: LabObject, action: Action): void {
  ctx.out.info(`${RESOURCE_NAMES[o.kind]}/${o.name} ${action}`);
}

function agents(ctx: LabContext): AgentClient[] {
  return ctx.state.nodes.map((n) => new AgentClient(n.socket));
}

async function applyNamespace(ctx: LabContext, o: NamespaceObject): Promise<void> {
  const existing = ctx.state.namespaces.find((n) => n.name === o.name);
  if (existing && !changed(existing.labels, o.labels)) {
    report(ctx, o, 'unchanged');
    return;
  }
  for (const agent of agents(ctx)) await agent.putNamespace({ name: o.name, labels: o.labels });
  if (existing) existing.labels = o.labels;
  else ctx.state.namespaces.push({ name: o.name, labels: o.labels, createdAt: new Date().toISOString() });
  ctx.save();
  report(ctx, o, existing ? 'configured' : 'created');
}

/** The policy as sent to the agents: its namespace written in, so `-n` applies to it too. */
function withNamespace(p: PolicyObject): unknown {
  if (p.namespace === '') return p.object;
  const meta = p.object['metadata'] as Record<string, unknown>;
  return { ...p.object, metadata: { ...meta, namespace: p.namespace } };
}

async function applyPolicies(ctx: LabContext, policies: PolicyObject[]): Promise<void> {
  const text = JSON.stringify(policies.map(withNamespace));
  let first: Awaited<ReturnType<AgentClient['importPolicies']>> | undefined;
  for (const agent of agents(ctx)) {
    try {
      const res = await agent.importPolicies({ text, defaultNamespace: 'default' });
      first ??= res;
    } catch (err) {
      const docs = policies.map((p) => p.index).join(', ');
      if (err instanceof MembraneError && err.code === 'EINVAL') {
        throw new MembraneError('EINVAL', `document${policies.length > 1 ? 's' : ''} ${docs}: policy rejected: ${err.message}`, { cause: err, path: err.path ?? '' });
      }
      throw err;
    }
  }
  const sameRef = (a: PolicyRef, b: PolicyRef) => a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
  for (const p of policies) {
    const ref: PolicyRef = { kind: p.kind, namespace: p.namespace, name: p.name };
    const result = first?.results.find((r) => sameRef(r.ref, ref));
    const i = ctx.state.policies.findIndex((r) => sameRef(r.ref, ref));
    const record = { ref, object: withNamespace(p) };
    if (i >= 0) ctx.state.policies[i] = record;
    else ctx.state.policies.push(record);
    report(ctx, p, result?.action ?? (i >= 0 ? 'configured' : 'created'));
  }
  ctx.save();
  // Warning paths count the policies of this import (`[1].spec...` when several); name the manifest document instead.
  for (const w of first?.warnings ?? []) {
    const m = /^\[(\d+)\]\.?/.exec(w.path);
    const p = policies[m ? Number(m[1]) : 0]!;
    ctx.out.warn(`warning: document ${p.index} (${p.kind} "${p.name}"): ${m ? w.path.slice(m[0].length) : w.path}: ${w.message}`);
  }
}

function applyService(ctx: LabContext, o: ServiceObject, spec: AllocatedSpec): void {
  const existing = ctx.state.services.find((s) => s.namespace === o.namespace && s.name === o.name);
  const action: Action = !existing ? 'created' : changed(existing.object, o.object) ? 'configured' : 'unchanged';
  if (action !== 'unchanged') {
    const record = { namespace: o.namespace, name: o.name, labels: o.labels, spec, object: o.object };
    if (existing) Object.assign(existing, record);
    else ctx.state.services.push({ ...record, createdAt: new Date().toISOString() });
    ctx.save();
  }
  report(ctx, o, action);
}

function applyEndpointSlice(ctx: LabContext, o: EndpointSliceObject): void {
  const existing = ctx.state.endpointSlices.find((s) => s.namespace === o.namespace && s.name === o.name);
  const action: Action = !existing ? 'created' : changed(existing.object, o.object) ? 'configured' : 'unchanged';
  if (action !== 'unchanged') {
    const record = { namespace: o.namespace, name: o.name, labels: o.labels, slice: o.slice, object: o.object };
    if (existing) Object.assign(existing, record);
    else ctx.state.endpointSlices.push({ ...record, createdAt: new Date().toISOString() });
    ctx.save();
  }
  report(ctx, o, action);
}

function nodeOf(ctx: LabContext, pod: PodRecord): NodeRecord {
  const node = ctx.state.nodes.find((n) => n.name === pod.node);
  if (!node) throw new MembraneError('ESTATE', `pod ${pod.namespace}/${pod.name} is on node ${pod.node}, which the lab does not have`);
  return node;
}

/** Creates a pod on the least busy node, resolving through the cluster DNS, and records it. */
export async function addPod(ctx: LabContext, desired: PodDesired): Promise<PodRecord> {
  const withDns = { ...desired, resolvConf: podResolvConf(ctx.state, desired.namespace) };
  const record = await createPod(ctx.lab, scheduleNode(ctx.state), withDns, ctx.toolchain);
  ctx.state.pods.push(record);
  ctx.save();
  return record;
}

/**
 * Deletes a pod and forgets it; failures past the first step become
 * warnings. As Kubernetes does, its service backends turn terminating first
 * (established connections keep it, new ones go elsewhere), and are gone
 * before its address can be handed to another pod.
 */
export async function removePod(ctx: LabContext, pod: PodRecord): Promise<void> {
  await syncServices(ctx, { terminating: [pod] });
  const warnings = await deletePod(ctx.lab, nodeOf(ctx, pod), pod, ctx.toolchain);
  for (const w of warnings) ctx.out.warn(`warning: ${w}`);
  ctx.state.pods = ctx.state.pods.filter((p) => p !== pod);
  ctx.save();
  await syncServices(ctx);
}

/** Pushes a pod's new labels / service account to its agent (its identity changes, its process stays). */
export async function relabelPod(ctx: LabContext, pod: PodRecord, labels: Record<string, string>, serviceAccount: string): Promise<void> {
  await new AgentClient(nodeOf(ctx, pod).socket).putPod(podMeta({ ...pod, labels, serviceAccount }));
  pod.labels = labels;
  pod.serviceAccount = serviceAccount;
  ctx.save();
}

async function applyPod(ctx: LabContext, o: PodObject): Promise<PodRecord[]> {
  const change = planPod(o, ctx.state);
  const desired: PodDesired = {
    namespace: o.namespace, name: o.name, labels: o.labels, serviceAccount: o.spec.serviceAccount, container: o.spec.container,
  };
  switch (change.action) {
    case 'unchanged':
      report(ctx, o, 'unchanged');
      return [];
    case 'relabel':
      await relabelPod(ctx, change.existing, o.labels, o.spec.serviceAccount);
      report(ctx, o, 'configured');
      return [];
    case 'recreate': {
      await removePod(ctx, change.existing);
      const pod = await addPod(ctx, desired);
      report(ctx, o, 'configured');
      return [pod];
    }
    case 'create': {
      const pod = await addPod(ctx, desired);
      report(ctx, o, 'created');
      return [pod];
    }
  }
}

/** Brings a Deployment's pods in line with it (also after one of its pods was deleted); returns the new pods. */
export async function reconcileDeployment(ctx: LabContext, d: DeploymentTarget): Promise<{ pods: PodRecord[]; noop: boolean }> {
  const plan = planDeployment(d, ctx.state);
  for (const pod of plan.remove) await removePod(ctx, pod);
  for (const pod of plan.relabel) await relabelPod(ctx, pod, plan.podLabels, d.template.spec.serviceAccount);
  const created: PodRecord[] = [];
  for (let i = 0; i < plan.create; i++) {
    const taken = new Set(ctx.state.pods.filter((p) => p.namespace === d.namespace).map((p) => p.name));
    created.push(await addPod(ctx, {
      namespace: d.namespace,
      name: deploymentPodName(d.name, plan.templateHash, taken),
      labels: plan.podLabels,
      serviceAccount: d.template.spec.serviceAccount,
      container: d.template.spec.container,
      owner: { deployment: d.name, templateHash: plan.templateHash },
    }));
  }
  return { pods: created, noop: isNoop(plan) };
}

async function applyDeployment(ctx: LabContext, o: DeploymentObject): Promise<PodRecord[]> {
  const existing = ctx.state.deployments.find((d) => d.namespace === o.namespace && d.name === o.name);
  const record = {
    namespace: o.namespace, name: o.name, labels: o.labels, replicas: o.replicas, selector: o.selector,
    template: o.template, templateHash: planDeployment(o, ctx.state).templateHash,
    createdAt: existing?.createdAt ?? new Date().toISOString(),
  };
  const recordChanged = !existing || changed(existing, record);
  if (existing) Object.assign(existing, record);
  else ctx.state.deployments.push(record);
  ctx.save();
  const { pods, noop } = await reconcileDeployment(ctx, o);
  report(ctx, o, !existing ? 'created' : recordChanged || !noop ? 'configured' : 'unchanged');
  return pods;
}
