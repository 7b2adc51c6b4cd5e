import { AgentClient } from '../api/client.js';
import type { PolicyRef } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import { reconcileDeployment, removePod } from './apply.js';
import { KUBE_SYSTEM } from './cluster-dns.js';
import type { LabContext } from './context.js';
import { RESOURCE_NAMES, isPolicy, type LabObject, type PolicyObject } from './manifest.js';
import { deploymentPods } from './plan.js';
import { waitReady } from './readiness.js';
import { forgetService } from './service-sync.js';

/**
 * `lab delete`: removes the objects named by a manifest, as `kubectl delete -f`
 * does: `<resource> "<name>" deleted` per object, a NotFound error (on
 * stderr, the others still deleted) for one that does not exist. Namespaces
 * go last, with everything in them.
 */
export async function deleteObjects(ctx: LabContext, objects: LabObject[], ignoreNotFound = false): Promise<{ notFound: number }> {
  for (const o of objects) {
    if (o.kind === 'Namespace' && (o.name === 'default' || o.name === KUBE_SYSTEM)) {
      throw new MembraneError('EINVAL', `document ${o.index}: namespace "${o.name}" cannot be deleted`, { path: 'metadata.name' });
    }
  }
  let notFound = 0;
  const ordered = [...objects.filter((o) => o.kind !== 'Namespace'), ...objects.filter((o) => o.kind === 'Namespace')];
  for (const o of ordered) {
    const found = await deleteObject(ctx, o);
    if (found) ctx.out.info(`${RESOURCE_NAMES[o.kind]} "${o.name}" deleted`);
    else if (!ignoreNotFound) {
      notFound += 1;
      ctx.out.warn(`Error from server (NotFound): ${RESOURCE_NAMES[o.kind]} "${o.name}" not found`);
    }
  }
  return { notFound };
}

async function deleteObject(ctx: LabContext, o: LabObject): Promise<boolean> {
  const s = ctx.state;
  switch (o.kind) {
    case 'Pod': {
      const pod = s.pods.find((p) => p.namespace === o.namespace && p.name === o.name);
      if (!pod) return false;
      await removePod(ctx, pod);
      // As a ReplicaSet would, a Deployment replaces a pod of its own that was deleted.
      const owner = pod.owner && s.deployments.find((d) => d.namespace === pod.namespace && d.name === pod.owner!.deployment);
      if (owner) await waitReady(ctx.lab, (await reconcileDeployment(ctx, owner)).pods);
      return true;
    }
    case 'Deployment':
      return deleteDeployment(ctx, o.namespace, o.name);
    case 'Service': {
      const svc = s.services.find((x) => x.namespace === o.namespace && x.name === o.name);
      if (!svc) return false;
      await forgetService(ctx, svc.namespace, svc.name);
      // Its ClusterIP and NodePorts are free again: nothing else holds them.
      s.services = s.services.filter((x) => x !== svc);
      ctx.save();
      return true;
    }
    case 'EndpointSlice': {
      const before = s.endpointSlices.length;
      s.endpointSlices = s.endpointSlices.filter((x) => !(x.namespace === o.namespace && x.name === o.name));
      ctx.save();
      return s.endpointSlices.length < before;
    }
    case 'Namespace':
      return deleteNamespace(ctx, o.name);
    default:
      if (isPolicy(o)) return deletePolicy(ctx, refOf(o));
      return false;
  }
}

function refOf(o: PolicyObject): PolicyRef {
  return { kind: o.kind, namespace: o.namespace, name: o.name };
}

async function deleteDeployment(ctx: LabContext, namespace: string, name: string): Promise<boolean> {
  const s = ctx.state;
  const d = s.deployments.find((x) => x.namespace === namespace && x.name === name);
  if (!d) return false;
  s.deployments = s.deployments.filter((x) => x !== d);
  ctx.save();
  for (const pod of deploymentPods(s, namespace, name)) await removePod(ctx, pod);
  return true;
}

async function deletePolicy(ctx: LabContext, ref: PolicyRef): Promise<boolean> {
  let found = false;
  for (const node of ctx.state.nodes) {
    try {
      const res = await new AgentClient(node.socket).deletePolicy(ref);
      if (res.deleted.length > 0) found = true;
    } catch (err) {
      if (!(err instanceof MembraneError && err.code === 'ENOTFOUND')) throw err;
    }
  }
  const s = ctx.state;
  const before = s.policies.length;
  s.policies = s.policies.filter((p) => !(p.ref.kind === ref.kind && p.ref.namespace === ref.namespace && p.ref.name === ref.name));
  ctx.save();
  return found || s.policies.length < before;
}

/** Deletes a namespace with every object in it, as Kubernetes does. */
async function deleteNamespace(ctx: LabContext, name: string): Promise<boolean> {
  const s = ctx.state;
  const ns = s.namespaces.find((n) => n.name === name);
  if (!ns) return false;
  for (const d of s.deployments.filter((x) => x.namespace === name)) await deleteDeployment(ctx, name, d.name);
  for (const pod of s.pods.filter((p) => p.namespace === name)) await removePod(ctx, pod);
  for (const p of s.policies.filter((x) => x.ref.namespace === name)) await deletePolicy(ctx, p.ref);
  for (const svc of s.services.filter((x) => x.namespace === name)) await forgetService(ctx, svc.namespace, svc.name);
  s.services = s.services.filter((x) => x.namespace !== name);
  s.endpointSlices = s.endpointSlices.filter((x) => x.namespace !== name);
  for (const node of s.nodes) await new AgentClient(node.socket).deleteNamespace(name);
  s.namespaces = s.namespaces.filter((n) => n !== ns);
  ctx.save();
  return true;
}
