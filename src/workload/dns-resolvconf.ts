/**
 * The resolv.conf of a pod in `namespace`, as the kubelet writes it for
 * dnsPolicy ClusterFirst: the cluster DNS server, and search domains that
 * make `deathstar` and `deathstar.default` resolve to
 * `deathstar.default.svc.cluster.local`. ndots:5 sends every name with fewer
 * than 5 dots through the search list first, so short service names never
 * reach the outside.
 */
import net from 'node:net';
import { ValidationError } from '../common/errors.js';
import { isDnsDomain } from './dns-records.js';

/**
 * Returns the text of the file, ending in a newline. Throws a
 * ValidationError for a namespace that is not a DNS label, a nameserver that
 * is not an IP address, or a domain that is not a DNS domain.
 */
export function resolvConf(namespace: string, nameserver: string, domain = 'cluster.local'): string {
  if (!isDnsDomain(namespace) || namespace.includes('.')) throw new ValidationError('namespace', `"${namespace}" is not a DNS label (lowercase letters, digits and "-")`);
  if (net.isIP(nameserver) === 0) throw new ValidationError('nameserver', `"${nameserver}" is not an IP address (the cluster DNS service IP, e.g. 10.96.0.10)`);
  if (!isDnsDomain(domain)) throw new ValidationError('domain', `"${domain}" is not a DNS domain such as cluster.local`);
  return [
    `nameserver ${nameserver}`,
    `search ${namespace}.svc.${domain} svc.${domain} ${domain}`,
    'options ndots:5',
    '',
  ].join('\n');
}
