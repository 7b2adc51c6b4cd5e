/**
 * `membrane workload dns`: the lab's cluster DNS server. Serves the records
 * file the lab writes over UDP and TCP and follows its changes; answers as
 * Kubernetes DNS (CoreDNS's kubernetes plugin) does, and forwards nothing:
 * a name outside the cluster domain gets NXDOMAIN.
 *
 * The parts: dns-records.ts (the file's format), dns-records-file.ts (read,
 * atomic write), dns-zone.ts (records -> names), dns-answer.ts (query ->
 * answer), dns-wire.ts (bytes, FORMERR, truncation), dns-zone-source.ts
 * (reload on change), dns-server.ts (sockets), dns-resolvconf.ts (the pods'
 * resolv.conf).
 */
import net from 'node:net';
import { ValidationError } from '../common/errors.js';
import { isDnsDomain } from './dns-records.js';
import { startDnsServer, type DnsServer } from './dns-server.js';
import { openZoneSource, type ZoneSource } from './dns-zone-source.js';

export { resolvConf } from './dns-resolvconf.js';
export { writeDnsRecords, readDnsRecordsFile } from './dns-records-file.js';
export type { DnsPod, DnsRecordsFile, DnsService, DnsServicePort } from './dns-records.js';

export interface DnsOptions {
  /** The records file (JSON, dns-records.ts). */
  records: string;
  /** IP address to listen on. */
  listen: string;
  port: number;
  /** The cluster domain, e.g. cluster.local. */
  domain: string;
  /** TTL of every answer, in seconds. */
  ttl: number;
}

/** The largest TTL DNS allows (RFC 2181: 2^31 - 1). */
const MAX_TTL = 2 ** 31 - 1;

/** Parses `--ttl`: whole seconds from 0 to 2^31-1. */
export function parseTtl(text: string): number {
  const ttl = Number(text);
  if (!/^\d+$/.test(text) || ttl > MAX_TTL) throw new ValidationError('--ttl', `must be whole seconds from 0 to ${MAX_TTL}, got "${text}"`);
  return ttl;
}

/** Checks the flags up front, so nothing is bound when one is wrong; returns them with the domain normalized. */
export function validateDnsOptions(opts: DnsOptions): DnsOptions {
  if (net.isIP(opts.listen) === 0) throw new ValidationError('--listen', `"${opts.listen}" is not an IP address (e.g. 0.0.0.0 or 10.96.0.10)`);
  const domain = opts.domain.toLowerCase().replace(/\.$/, '');
  if (!isDnsDomain(domain)) throw new ValidationError('--domain', `"${opts.domain}" is not a DNS domain such as cluster.local`);
  if (opts.records === '') throw new ValidationError('--records', 'give the records file the lab writes');
  return { ...opts, domain };
}

export interface RunningDns {
  server: DnsServer;
  zones: ZoneSource;
  /** Stops serving and following the file. Never throws. */
  close(): Promise<void>;
}

/**
 * Loads the records and starts serving. Throws a ValidationError for bad
 * flags or a bad first records file, or a MembraneError when the file is
 * missing or a port cannot be bound; nothing is left running then.
 */
export async function startDns(opts: DnsOptions, log: (line: string) => void): Promise<RunningDns> {
  const o = validateDnsOptions(opts);
  const zones = await openZoneSource({ file: o.records, domain: o.domain, ttl: o.ttl, log });
  let server: DnsServer;
  try {
    server = await startDnsServer({ host: o.listen, port: o.port, zone: zones.current });
  } catch (err) {
    zones.close();
    throw err;
  }
  log(`dns: serving ${o.domain} on ${o.listen} port ${server.port} (udp, tcp), ttl ${o.ttl}s; names outside it get NXDOMAIN`);
  return { server, zones, close: async () => { zones.close(); await server.close(); } };
}

/** `membrane workload dns`: serves until SIGTERM or SIGINT, then exits 0. */
export async function runDns(opts: DnsOptions): Promise<void> {
  const log = (line: string): void => { process.stdout.write(line + '\n'); };
  const dns = await startDns(opts, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`dns: ${signal}, shutting down`);
      void dns.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
