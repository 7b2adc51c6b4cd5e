import { MembraneError } from '../common/errors.js';
import { canonicalJson, podTemplateHash } from './deployment-naming.js';
import type { LabObject, PodObject, PodTemplate } from './manifest.js';
import type { LabState, NodeRecord, PodRecord } from './state.js';

/**
 * What applying a manifest changes, decided from the objects and the lab's
 * state without touching either. Pure: the executor (apply.ts) carries the
 * plan out.
 */

export type Action = 'created' | 'configured' | 'unchanged';

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function conflict(o: LabObject, message: string, path: string): MembraneError {
  return new MembraneError('EINVAL', `document ${o.index} (${o.kind} "${o.name}"): ${message}`, { path });
}

/**
 * Throws when an object cannot be applied to this lab: its namespace exists
 * neither in the lab nor in the same manifest, a bare Pod would replace a
 * Deployment's pod, a Deployment's selector would change. Checked for every
 * object before anything is applied.
 */
export function checkApplicable(objects: LabObject[], state: LabState): void {
  const namespaces = new Set(['default', ...state.namespaces.map((n) => n.name)]);
  for (const o of objects) if (o.kind === 'Namespace') namespaces.add(o.name);
  for (const o of objects) {
    if ('namespace' in o && o.namespace !== '' && !namespaces.has(o.namespace)) {
      throw conflict(o, `namespaces "${o.namespace}" not found: create the Namespace first (or in the same file)`, 'metadata.namespace');
    }
    if (o.kind === 'Pod') {
      const existing = state.pods.find((p) => p.namespace === o.namespace && p.name === o.name);
      if (existing?.owner) {
        throw conflict(o, `pod "${o.name}" belongs to deployment "${existing.owner.deployment}": change the Deployment instead`, 'metadata.name');
      }
    }
    if (o.kind === 'Deployment') {
      const existing = state.deployments.find((d) => d.namespace === o.namespace && d.name === o.name);
      if (existing && !sameJson(existing.selector, o.selector)) {
        throw conflict(o, 'field is immutable: a Deployment\'s selector cannot change (delete it and apply again)', 'spec.selector');
      }
    }
  }
}

export type PodChange =
  | { action: 'create' }
  | { action: 'recreate'; existing: PodRecord }
  | { action: 'relabel'; existing: PodRecord }
  | { action: 'unchanged'; existing: PodRecord };

/** A bare Pod: a changed container replaces the pod, changed labels or service account relabel it in place. */
export function planPod(o: PodObject, state: LabState): PodChange {
  const existing = state.pods.find((p) => p.namespace === o.namespace && p.name === o.name);
  if (!existing) return { action: 'create' };
  if (!sameJson(existing.container, o.spec.container)) return { action: 'recreate', existing };
  if (!sameJson(existing.labels, o.labels) || existing.serviceAccount !== o.spec.serviceAccount) return { action: 'relabel', existing };
  return { action: 'unchanged', existing };
}

export interface DeploymentTarget {
  namespace: string;
  name: string;
  replicas: number;
  template: PodTemplate;
}

export interface DeploymentPlan {
  templateHash: string;
  /** Labels of the Deployment's pods: the template's plus pod-template-hash. */
  podLabels: Record<string, string>;
  /** Pods of an older template, then surplus pods (newest first). */
  remove: PodRecord[];
  /** Pods of the current template whose labels differ. */
  relabel: PodRecord[];
  /** How many pods to create. */
  create: number;
}

export function deploymentPods(state: LabState, namespace: string, name: string): PodRecord[] {
  return state.pods.filter((p) => p.namespace === namespace && p.owner?.deployment === name);
}

/** Brings a Deployment's pods to `replicas` pods of its current template, as a ReplicaSet would. */
export function planDeployment(d: DeploymentTarget, state: LabState): DeploymentPlan {
  const templateHash = podTemplateHash(d.template.spec);
  const podLabels = { ...d.template.labels, 'pod-template-hash': templateHash };
  const pods = deploymentPods(state, d.namespace, d.name);
  const stale = pods.filter((p) => p.owner!.templateHash !== templateHash);
  const current = pods
    .filter((p) => p.owner!.templateHash === templateHash)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  const keep = current.slice(0, d.replicas);
  const surplus = current.slice(d.replicas).reverse();
  return {
    templateHash,
    podLabels,
    remove: [...stale, ...surplus],
    relabel: keep.filter((p) => !sameJson(p.labels, podLabels) || p.serviceAccount !== d.template.spec.serviceAccount),
    create: d.replicas - keep.length,
  };
}

export function isNoop(plan: DeploymentPlan): boolean {
  return plan.remove.length === 0 && plan.relabel.length === 0 && plan.create === 0;
}

/** Whether a stored object differs from its new version (for created/configured/unchanged). */
export function changed(before: unknown, after: unknown): boolean {
  return !sameJson(before, after);
}

/** The node a new pod goes to: the one with the fewest pods (the first on a tie). */
export function scheduleNode(state: LabState): NodeRecord {
  if (state.nodes.length === 0) throw new MembraneError('ESTATE', `lab ${state.name} has no nodes`);
  let best = state.nodes[0]!;
  let bestCount = Infinity;
  for (const n of state.nodes) {
    const count = state.pods.filter((p) => p.node === n.name).length;
    if (count < bestCount) {
      best = n;
      bestCount = count;
    }
  }
  return best;
}
