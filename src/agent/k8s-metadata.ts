/**
 * What the orchestrator told the agent about namespaces and pods (labels,
 * service account, container ports), keyed as Kubernetes keys them, and
 * persisted so a restarted agent rebuilds the same identities. The lab
 * pushes it today; a Kubernetes watcher will later.
 */
import type { NamespaceModel, PodMetaModel } from '../api/types.js';
import { readJsonState, writeJsonState } from '../common/state.js';

interface Persisted {
  namespaces: NamespaceModel[];
  pods: PodMetaModel[];
}

export class K8sMetadata {
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly pods = new Map<string, PodMetaModel>();

  constructor(private readonly file: string) {
    const saved = readJsonState<Persisted>(file, { namespaces: [], pods: [] });
    for (const ns of saved.namespaces) this.namespaces.set(ns.name, ns.labels);
    for (const p of saved.pods) this.pods.set(`${p.namespace}/${p.name}`, p);
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
  }

  pod(namespace: string | undefined, name: string | undefined): PodMetaModel | undefined {
    return namespace && name ? this.pods.get(`${namespace}/${name}`) : undefined;
  }

  /** Every namespace the agent was told about, by name; copies, so callers cannot change the agent's own. */
  listNamespaces(): NamespaceModel[] {
    return [...this.namespaces].map(([name, labels]) => ({ name, labels: { ...labels } })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every pod the agent was told about, by namespace then name; copies, as listNamespaces. */
  listPods(): PodMetaModel[] {
    return [...this.pods.values()].map((p) => structuredClone(p))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  putNamespace(ns: NamespaceModel): void {
    this.namespaces.set(ns.name, { ...ns.labels });
    this.save();
  }

  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
    this.save();
  }

  putPod(pod: PodMetaModel): void {
    this.pods.set(`${pod.namespace}/${pod.name}`, { ...pod, serviceAccount: pod.serviceAccount || 'default' });
    this.save();
  }

  deletePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
    this.save();
  }

  private save(): void {
    writeJsonState(this.file, {
      namespaces: [...this.namespaces].map(([name, labels]) => ({ name, labels })),
      pods: [...this.pods.values()],
    } satisfies Persisted);
  }
}
