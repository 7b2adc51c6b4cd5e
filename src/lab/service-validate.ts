import { ValidationError } from '../common/errors.js';
import { validateK8sService } from '../service/validate.js';
import { LB_ALGORITHM_ANNOTATION, HEADLESS, type ServiceSpec } from './manifest-service.js';
import { serviceModelWith } from './service-backends.js';

/**
 * A Service of a manifest checked with the agents' own rules
 * (validateK8sService, the one implementation), once the lab has given it
 * its clusterIP and NodePorts and before anything is applied: a service the
 * agents would refuse is refused by `lab apply`, naming the manifest's field,
 * and never recorded. Its backends change with pods and are made to fit the
 * same rules as they are resolved (service-backends.ts). Pure.
 */

/** The manifest path of a field of the agents' service model: `ports[0].nodePort` -> `spec.ports[0].nodePort`. */
export function manifestPath(modelPath: string): string {
  const rules: [RegExp, string][] = [
    [/^name$/, 'metadata.name'],
    [/^namespace$/, 'metadata.namespace'],
    [/^labels(?=$|\.)/, 'metadata.labels'],
    [/^algorithm$/, `metadata.annotations.${LB_ALGORITHM_ANNOTATION}`],
    [/^sessionAffinityTimeoutSeconds$/, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds'],
    [/^(type|clusterIP|ports|selector)(?=$|[.[])/, 'spec.$1'],
  ];
  for (const [from, to] of rules) if (from.test(modelPath)) return modelPath.replace(from, to);
  return modelPath;
}

/**
 * Throws a ValidationError whose path is the manifest's (`metadata.name`,
 * `spec.ports[0].nodePort`) when the agents would refuse the service as the
 * lab is about to record it. A headless service is not sent to the agents.
 */
export function checkServiceForAgents(svc: { namespace: string; name: string; labels: Record<string, string>; spec: ServiceSpec & { clusterIP: string } }): void {
  if (svc.spec.clusterIP === HEADLESS) return;
  try {
    validateK8sService(serviceModelWith(svc, []));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const at = err.path ?? '';
    const reason = at && err.message.startsWith(`${at}: `) ? err.message.slice(at.length + 2) : err.message;
    throw new ValidationError(manifestPath(at), reason, { cause: err });
  }
}
