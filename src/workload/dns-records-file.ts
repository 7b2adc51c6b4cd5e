/**
 * Reading and writing the DNS records file (see dns-records.ts for its
 * format). The lab writes it with writeDnsRecords; `membrane workload dns`
 * reads it and reloads it when it changes.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MembraneError, ValidationError, errorMessage } from '../common/errors.js';
import { parseDnsRecords, type DnsRecordsFile } from './dns-records.js';

/**
 * Reads and checks the records file at `file`. Throws a MembraneError
 * (ENOTFOUND, or ESTATE when unreadable) or a ValidationError whose message
 * starts with `file` and names the field, e.g.
 * `/run/dns.json: services[0].clusterIP: "x" is not an IPv4 or IPv6 address`.
 */
export async function readDnsRecordsFile(file: string): Promise<DnsRecordsFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new MembraneError(missing ? 'ENOTFOUND' : 'ESTATE', `cannot read DNS records ${file}: ${errorMessage(err)}${missing ? ' (the lab writes it with writeDnsRecords)' : ''}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(file, `not JSON: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return parseDnsRecords(value);
  } catch (err) {
    if (err instanceof ValidationError) throw new ValidationError(`${file}: ${err.path}`, errorMessage(err).slice(`${err.path}: `.length), { cause: err });
    throw err;
  }
}

/**
 * Checks `records` and writes them to `file` atomically: into a temporary
 * file beside it, then renamed over it, so the server never reads half a
 * file. Creates the parent folder. Throws a ValidationError (nothing
 * written) for bad records, or a MembraneError (ESTATE) when writing fails.
 */
export async function writeDnsRecords(file: string, records: DnsRecordsFile): Promise<void> {
  const checked = parseDnsRecords(records);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(tmp, JSON.stringify(checked, null, 2) + '\n');
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw new MembraneError('ESTATE', `cannot write DNS records ${file}: ${errorMessage(err)}`, { cause: err });
  }
}
