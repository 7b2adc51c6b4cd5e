/**
 * CNI_ARGS: "K1=V1;K2=V2" pairs from the runtime. Pure.
 *
 * As the CNI library's convention has it, an argument the plugin does not
 * know is an error unless the runtime also passed `IgnoreUnknown=1`
 * (kubelet, containerd and CRI-O always do).
 */
import { CniCode, CniError } from './errors.js';

/** Pod identity and labels carried by CNI_ARGS. */
export interface PodArgs {
  podNamespace?: string;
  podName?: string;
  infraContainerId?: string;
  /** From MEMBRANE_LABELS=k1=v1,k2=v2, for runtimes without an orchestrator. */
  labels: Record<string, string>;
}

/** Arguments membrane reads, and the ones runtimes commonly send that it accepts without using. */
const KNOWN = new Set([
  'IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'MEMBRANE_LABELS',
]);

const bad = (msg: string, details?: string): never => {
  throw new CniError(CniCode.InvalidEnvironment, msg, details);
};

/** "k1=v1,k2=v2" -> {k1: v1, k2: v2}. Label syntax beyond that is the agent's to judge. */
export function parseLabelList(text: string, what = 'MEMBRANE_LABELS'): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === '') return labels;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) bad(`CNI_ARGS ${what}: "${item}" is not key=value`, 'expected k1=v1,k2=v2');
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

export function parseCniArgs(raw: string): PodArgs {
  const pairs = new Map<string, string>();
  for (const item of raw.split(';')) {
    if (item === '') continue;
    // Split at the first "=" only: MEMBRANE_LABELS' value holds "=" itself.
    const eq = item.indexOf('=');
    if (eq <= 0) bad(`CNI_ARGS: "${item}" is not KEY=VALUE`, 'CNI_ARGS is "K1=V1;K2=V2"');
    pairs.set(item.slice(0, eq), item.slice(eq + 1));
  }
  const ignoreUnknown = /^(1|true)$/i.test(pairs.get('IgnoreUnknown') ?? '');
  if (!ignoreUnknown) {
    const unknown = [...pairs.keys()].filter((k) => !KNOWN.has(k));
    if (unknown.length > 0) {
      bad(`CNI_ARGS: unknown argument ${unknown.map((k) => `"${k}"`).join(', ')}`,
        `membrane-cni reads ${[...KNOWN].join(', ')}; pass IgnoreUnknown=1 to ignore the others`);
    }
  }
  const args: PodArgs = { labels: parseLabelList(pairs.get('MEMBRANE_LABELS') ?? '') };
  const ns = pairs.get('K8S_POD_NAMESPACE');
  const name = pairs.get('K8S_POD_NAME');
  const infra = pairs.get('K8S_POD_INFRA_CONTAINER_ID');
  if (ns) args.podNamespace = ns;
  if (name) args.podName = name;
  if (infra) args.infraContainerId = infra;
  return args;
}

/** The pod's labels: the config's `args` first, CNI_ARGS (more specific, per invocation) winning. */
export function podLabels(configLabels: Record<string, string>, args: PodArgs): Record<string, string> {
  return { ...configLabels, ...args.labels };
}
