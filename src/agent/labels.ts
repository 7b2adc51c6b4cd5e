/** An endpoint's identity labels from what the agent knows of its pod (§4.3 of the semantics). */
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';

export interface EndpointLabelInput {
  namespace: string | undefined;
  podLabels: Record<string, string> | undefined;
  namespaceLabels: Record<string, string> | undefined;
  serviceAccount: string | undefined;
  clusterName: string;
}

/**
 * Identity labels of an endpoint. A pod the agent knows nothing about (no
 * namespace, no labels) gets the empty set, which the allocator maps to the
 * reserved init identity.
 */
export function podIdentityLabels(input: EndpointLabelInput): LabelSet {
  if (!input.namespace && !input.podLabels) return LabelSet.EMPTY;
  return buildPodLabels({
    namespace: input.namespace ?? 'default',
    podLabels: input.podLabels ?? {},
    namespaceLabels: input.namespaceLabels ?? (input.namespace ? { 'kubernetes.io/metadata.name': input.namespace } : {}),
    serviceAccount: input.serviceAccount ?? 'default',
    clusterName: input.clusterName,
  }).identityLabels;
}
