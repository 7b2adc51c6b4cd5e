/**
 * The conformance lab's objects, as one manifest: namespaces x, y, z (label
 * `ns=<ns>`); in each, pods a, b and c (label `pod=<pod>`, service accounts
 * as model.ts SERVICE_ACCOUNTS says) serving their "ns/pod" name on TCP and
 * UDP 80 and 81, with ports named serve-80-tcp, serve-81-tcp, serve-80-udp
 * and serve-81-udp (the pods of y also name TCP 81 `web`, model.ts
 * NAMESPACE_NAMED_PORT); and two services in y for `toServices`:
 *   - `back` (labels `tier=back`) selects pod=b, so it stands for y/b;
 *   - `partner` (labels `tier=edge`) has no selector and one EndpointSlice
 *     address in the lab's world, 198.51.100.10.
 * Pure.
 */
import { NAMESPACES, NAMESPACE_NAMED_PORT, POD_NAMES, SERVICE_ACCOUNTS, type Namespace, type PodName, type WorldAddress } from './model.js';

/** The services of the lab, for the cases that name them. */
export const MATRIX_SERVICES = {
  back: { ns: 'y', name: 'back', labels: { tier: 'back' }, selects: 'y/b' },
  partner: { ns: 'y', name: 'partner', labels: { tier: 'edge' }, address: '198.51.100.10' satisfies WorldAddress },
} as const;

function podDoc(ns: Namespace, name: PodName): string {
  const account = SERVICE_ACCOUNTS[name];
  const extraPort = ns === NAMESPACE_NAMED_PORT.ns
    ? `    - {name: ${NAMESPACE_NAMED_PORT.name}, containerPort: ${NAMESPACE_NAMED_PORT.port}, protocol: ${NAMESPACE_NAMED_PORT.protocol}}\n` : '';
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {pod: ${name}}}
spec:
${account ? `  serviceAccountName: ${account}\n` : ''}  containers:
  - name: serve
    image: none
    command: [membrane, workload, serve, --tcp, "80,81", --udp, "80,81", --name, ${ns}/${name}]
    ports:
    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}
    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}
    - {name: serve-80-udp, containerPort: 80, protocol: UDP}
    - {name: serve-81-udp, containerPort: 81, protocol: UDP}
${extraPort}`;
}

function serviceDocs(): string[] {
  const { back, partner } = MATRIX_SERVICES;
  const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
  return [
    `apiVersion: v1
kind: Service
metadata: {name: ${back.name}, namespace: ${back.ns}, labels: ${labels(back.labels)}}
spec:
  selector: {pod: b}
  ports:
  - {name: tcp-80, port: 80, protocol: TCP}
  - {name: tcp-81, port: 81, protocol: TCP}
  - {name: udp-80, port: 80, protocol: UDP}
  - {name: udp-81, port: 81, protocol: UDP}
`,
    `apiVersion: v1
kind: Service
metadata: {name: ${partner.name}, namespace: ${partner.ns}, labels: ${labels(partner.labels)}}
spec:
  ports: [{name: http, port: 80, protocol: TCP}]
`,
    `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${partner.name}-1, namespace: ${partner.ns}, labels: {kubernetes.io/service-name: ${partner.name}}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- addresses: ["${partner.address}"]
  conditions: {ready: true}
`,
  ];
}

/** The lab's objects: 3 namespaces, 9 pods, 2 services (see the file comment). */
export function matrixManifest(): string {
  const docs: string[] = [];
  for (const ns of NAMESPACES) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {ns: ${ns}}}\n`);
    for (const name of POD_NAMES) docs.push(podDoc(ns, name));
  }
  docs.push(...serviceDocs());
  return docs.join('---\n');
}
