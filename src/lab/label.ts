import { AgentClient } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import { relabelPod } from './apply.js';
import type { LabContext } from './context.js';
import { NAMESPACE_NAME_LABEL, updateLabels, type LabelChange, type LabelTarget } from './label-args.js';

/**
 * `lab label`: changes a pod's or a namespace's labels, as `kubectl label`
 * does, and pushes them to the agents, which re-resolve identities and
 * policy before answering, so the new labels are enforced once this returns.
 * A Deployment's pod keeps its new labels until the Deployment is applied
 * again (the lab does not replace a pod that left its Deployment's selector,
 * as a ReplicaSet would).
 */

export interface LabelResult {
  target: LabelTarget;
  /** The labels now. */
  labels: Record<string, string>;
  /** false when the changes left the labels as they were ("not labeled"). */
  changed: boolean;
}

export async function labelObject(ctx: LabContext, target: LabelTarget, changes: LabelChange[], overwrite: boolean): Promise<LabelResult> {
  const result = target.kind === 'pod'
    ? await labelPod(ctx, target, changes, overwrite)
    : await labelNamespace(ctx, target, changes, overwrite);
  ctx.out.info(`${target.kind}/${target.name} ${result.changed ? 'labeled' : 'not labeled'}`);
  return result;
}

function warnMissing(ctx: LabContext, missing: string[]): void {
  for (const key of missing) ctx.out.warn(`label "${key}" not found.`);
}

async function labelPod(ctx: LabContext, target: LabelTarget & { kind: 'pod' }, changes: LabelChange[], overwrite: boolean): Promise<LabelResult> {
  const pod = ctx.state.pods.find((p) => p.namespace === target.namespace && p.name === target.name);
  if (!pod) {
    throw new MembraneError('ENOTFOUND', `pod "${target.name}" not found in namespace ${target.namespace} of lab ${ctx.lab} (see: membrane lab get pods -A)`);
  }
  const update = updateLabels(pod.labels, changes, { overwrite });
  warnMissing(ctx, update.missing);
  if (update.changed) await relabelPod(ctx, pod, update.labels, pod.serviceAccount);
  return { target, labels: pod.labels, changed: update.changed };
}

async function labelNamespace(ctx: LabContext, target: LabelTarget & { kind: 'namespace' }, changes: LabelChange[], overwrite: boolean): Promise<LabelResult> {
  const ns = ctx.state.namespaces.find((n) => n.name === target.name);
  if (!ns) {
    throw new MembraneError('ENOTFOUND', `namespace "${target.name}" not found in lab ${ctx.lab} (see: membrane lab get namespaces)`);
  }
  const update = updateLabels(ns.labels, changes, {
    overwrite,
    reserved: { [NAMESPACE_NAME_LABEL]: 'it always holds the namespace\'s name' },
  });
  warnMissing(ctx, update.missing);
  if (update.changed) {
    const labels = { ...update.labels, [NAMESPACE_NAME_LABEL]: ns.name };
    for (const node of ctx.state.nodes) await new AgentClient(node.socket).putNamespace({ name: ns.name, labels });
    ns.labels = labels;
    ctx.save();
  }
  return { target, labels: ns.labels, changed: update.changed };
}
