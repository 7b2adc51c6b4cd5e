/**
 * Well-known label keys that Kubernetes metadata becomes, spelled as Cilium
 * spells them so that policies written for Cilium select the same endpoints.
 */

/** `k8s:io.kubernetes.pod.namespace=<namespace>` on every pod. */
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** `k8s:io.cilium.k8s.namespace.labels.<key>=<value>` for each label of the pod's namespace. */
export const NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';
/** `k8s:io.cilium.k8s.policy.serviceaccount=<name>`. */
export const SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount';
/** `k8s:io.cilium.k8s.policy.cluster=<cluster name>`. */
export const CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';

/** Labels derived for every rule of a policy object, naming where it came from. */
export const POLICY_DERIVED_FROM_LABEL = 'io.cilium.k8s.policy.derived-from';
export const POLICY_NAME_LABEL = 'io.cilium.k8s.policy.name';
export const POLICY_NAMESPACE_LABEL = 'io.cilium.k8s.policy.namespace';
