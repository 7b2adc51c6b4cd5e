/**
 * Builds an endpoint's labels from its pod's Kubernetes metadata (§4.3): the
 * pod labels, its namespace, service account and cluster, and the labels of
 * its namespace, all with the `k8s` source; then splits them with the label
 * filter into identity labels and information labels.
 */
import { filterLabels, DEFAULT_LABEL_FILTER, type LabelFilterConfig } from './filter.js';
import { CLUSTER_LABEL, NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL } from './k8s.js';
import { LabelSet, LabelSource, type Label } from './labels.js';

export interface PodLabelSource {
  namespace: string;
  podLabels: Record<string, string>;
  /** Labels of the pod's namespace (the caller includes `kubernetes.io/metadata.name` if it emulates Kubernetes). */
  namespaceLabels?: Record<string, string>;
  /** Omitted or empty: no service-account label. */
  serviceAccount?: string;
  /** Omitted or empty: no cluster label. */
  clusterName?: string;
}

/** Every label of the pod, before filtering. */
export function collectPodLabels(pod: PodLabelSource): LabelSet {
  const k8s = (key: string, value: string): Label => ({ source: LabelSource.K8s, key, value });
  const labels: Label[] = Object.entries(pod.podLabels).map(([k, v]) => k8s(k, v));
  labels.push(k8s(POD_NAMESPACE_LABEL, pod.namespace));
  if (pod.serviceAccount) labels.push(k8s(SERVICE_ACCOUNT_LABEL, pod.serviceAccount));
  if (pod.clusterName) labels.push(k8s(CLUSTER_LABEL, pod.clusterName));
  for (const [k, v] of Object.entries(pod.namespaceLabels ?? {})) labels.push(k8s(NAMESPACE_LABELS_PREFIX + k, v));
  // Derived labels come last so a pod label cannot impersonate the namespace or service account.
  return LabelSet.of(labels);
}

/** The pod's identity labels and information labels. */
export function buildPodLabels(
  pod: PodLabelSource,
  filter: LabelFilterConfig = DEFAULT_LABEL_FILTER,
): { identityLabels: LabelSet; infoLabels: LabelSet } {
  return filterLabels(collectPodLabels(pod), filter);
}
