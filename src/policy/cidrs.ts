/**
 * The IPv4 prefixes the policies name (CIDR peers and their `except`s):
 * each needs a CIDR identity and an ipcache entry so that, by longest
 * prefix, an address resolves to the most specific prefix any rule cares
 * about. /0 needs none: it is world, the ipcache's default. IPv6 prefixes
 * get none either: they select no traffic (ipv6.ts), normalized peers do not
 * carry them (only `asWritten` does), and the family check below keeps it so.
 */
import { parseCidr, formatCidr } from './cidr.js';
import type { PolicyRepository } from './repository.js';
import { RULE_SECTIONS } from './types.js';

export function referencedCidrs(repository: PolicyRepository): string[] {
  const out = new Set<string>();
  for (const { rule } of repository.rules()) {
    for (const section of RULE_SECTIONS) {
      for (const entry of rule[section]) {
        if (entry.peer?.kind !== 'cidr') continue;
        for (const c of entry.peer.cidrs) {
          for (const text of [c.cidr, ...c.except]) {
            const cidr = text === undefined ? undefined : parseCidr(text);
            if (cidr && cidr.family === 4 && cidr.prefixLen > 0) out.add(formatCidr(cidr));
          }
        }
      }
    }
  }
  return [...out].sort();
}
