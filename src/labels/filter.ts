/**
 * The security-relevant label filter: which of an endpoint's labels take part
 * in its identity and which are kept only as information, with the default
 * prefixes Cilium uses. Keeping labels such as `pod-template-hash` out of the
 * identity is what lets all replicas of a Deployment share one identity.
 */
import { LabelSet, LabelSource, type Label } from './labels.js';

/** One filter pattern: a regular expression anchored at the start of the key, optionally limited to one source. */
export interface LabelPattern {
  source?: string;
  /** Matched against the key from its first character. */
  keyPrefix: RegExp;
}

export interface LabelFilterConfig {
  include: readonly LabelPattern[];
  exclude: readonly LabelPattern[];
  /**
   * When true, only included labels are identity-relevant (what a user-given
   * inclusive pattern turns on). When false, every label that is not excluded is.
   */
  includeOnly: boolean;
}

const prefix = (source: string | undefined, re: string): LabelPattern =>
  source === undefined ? { keyPrefix: new RegExp(`^(?:${re})`) } : { source, keyPrefix: new RegExp(`^(?:${re})`) };

/** The default configuration, as Cilium's defaults (§4.3). Include patterns win over exclude patterns. */
export const DEFAULT_LABEL_FILTER: LabelFilterConfig = Object.freeze({
  include: [
    prefix(LabelSource.Reserved, '.*'),
    prefix(undefined, 'io\\.kubernetes\\.pod\\.namespace'),
    prefix(undefined, 'io\\.cilium\\.k8s\\.namespace\\.labels'),
    prefix(undefined, 'app\\.kubernetes\\.io'),
    prefix(undefined, 'io\\.cilium\\.k8s\\.policy\\.cluster'),
    prefix(undefined, 'io\\.cilium\\.k8s\\.policy\\.serviceaccount'),
  ],
  exclude: [
    prefix(undefined, 'io\\.kubernetes'),
    prefix(undefined, 'kubernetes\\.io'),
    prefix(undefined, 'statefulset\\.kubernetes\\.io/pod-name'),
    prefix(undefined, 'apps\\.kubernetes\\.io/pod-index'),
    prefix(undefined, 'batch\\.kubernetes\\.io/job-completion-index'),
    prefix(undefined, 'batch\\.kubernetes\\.io/controller-uid'),
    prefix(undefined, '.*beta\\.kubernetes\\.io'),
    prefix(undefined, 'k8s\\.io'),
    prefix(undefined, 'pod-template-generation'),
    prefix(undefined, 'pod-template-hash'),
    prefix(undefined, 'controller-revision-hash'),
    prefix(undefined, 'controller-uid'),
    prefix(undefined, 'annotation.*'),
    prefix(undefined, 'etcd_node'),
    prefix(undefined, 'topology\\.kubernetes\\.io'),
  ],
  includeOnly: false,
});

function matchesAny(patterns: readonly LabelPattern[], l: Label): boolean {
  return patterns.some((p) => (p.source === undefined || p.source === l.source) && p.keyPrefix.test(l.key));
}

/** Whether one label is identity-relevant under `config`. */
export function isIdentityRelevant(l: Label, config: LabelFilterConfig = DEFAULT_LABEL_FILTER): boolean {
  if (matchesAny(config.include, l)) return true;
  if (config.includeOnly) return false;
  return !matchesAny(config.exclude, l);
}

/** Splits labels into the identity-relevant ones and the rest ("information labels"). */
export function filterLabels(
  labels: LabelSet,
  config: LabelFilterConfig = DEFAULT_LABEL_FILTER,
): { identityLabels: LabelSet; infoLabels: LabelSet } {
  return {
    identityLabels: labels.filter((l) => isIdentityRelevant(l, config)),
    infoLabels: labels.filter((l) => !isIdentityRelevant(l, config)),
  };
}
