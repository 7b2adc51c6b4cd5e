import type { ServiceBackendModel } from '../api/types.js';
import { serviceBackends, type BackendInputs } from './service-backends.js';
import type { LabState } from './state.js';

/** A service as `lab get services` shows it. */
export interface ServiceView {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort';
  /** An address, or "None" (headless). */
  clusterIP: string;
  /** kubectl's PORT(S) cell: `80/TCP`, `53/UDP,53/TCP`, `80:30080/TCP`. */
  ports: string;
  /** `k=v,...`, or undefined for a service without a selector. */
  selector?: string;
  sessionAffinity: 'None' | 'ClientIP';
  algorithm: 'random' | 'maglev';
  labels: Record<string, string>;
  createdAt: string;
  /** What it balances to now. */
  backends: ServiceBackendModel[];
}

/** The services of the lab (of one namespace), sorted by namespace and name. Pure but for `isReady`. */
export function serviceViews(state: LabState, namespace: string | undefined, isReady: BackendInputs['isReady']): ServiceView[] {
  const inputs: BackendInputs = { pods: state.pods, slices: state.endpointSlices, isReady };
  return state.services
    .filter((s) => namespace === undefined || s.namespace === namespace)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
    .map((s) => {
      const view: ServiceView = {
        namespace: s.namespace,
        name: s.name,
        type: s.spec.type,
        clusterIP: s.spec.clusterIP,
        ports: s.spec.ports.length === 0 ? '<none>'
          : s.spec.ports.map((p) => `${p.port}${p.nodePort !== undefined ? `:${p.nodePort}` : ''}/${p.protocol}`).join(','),
        sessionAffinity: s.spec.affinityTimeoutSeconds > 0 ? 'ClientIP' : 'None',
        algorithm: s.spec.algorithm,
        labels: s.labels,
        createdAt: s.createdAt,
        backends: serviceBackends(s, inputs),
      };
      if (s.spec.selector) view.selector = Object.entries(s.spec.selector).map(([k, v]) => `${k}=${v}`).join(',');
      return view;
    });
}
