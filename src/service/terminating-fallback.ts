/**
 * The terminating-endpoints fallback (Kubernetes KEP-1669, as kube-proxy
 * and Cilium implement it): a terminating backend keeps its established
 * connections and takes no new ones, unless the frontend has no active
 * backend left; then its terminating (still serving) backends take the new
 * connections rather than every one being dropped as having no backend.
 * Applied to what the kernel is given only: listings still say which
 * backends terminate. Pure.
 */
import type { LbFrontend } from './lb-types.js';

/**
 * `f` as the datapath should balance it: unchanged when some backend is
 * active (or there is none at all), else with every terminating backend
 * made active for selection. Returns a new object; `f` is not changed.
 */
export function withTerminatingFallback(f: LbFrontend): LbFrontend {
  if (f.backends.length === 0 || f.backends.some((b) => b.state === 'active')) return f;
  return { ...f, backends: f.backends.map((b) => ({ ...b, state: 'active' as const })) };
}
