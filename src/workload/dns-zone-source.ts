/**
 * The zone the DNS server answers from, kept in step with the records file:
 * reloaded when fs.watch reports a change in the file's folder (watching the
 * folder, not the file, follows an atomic rename), and by a poll of the
 * file's inode, size and mtime in case watch events are lost (some
 * filesystems send none). A bad or missing file keeps the previous records
 * and logs why, naming the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError, errorMessage } from '../common/errors.js';
import { readDnsRecordsFile } from './dns-records-file.js';
import { buildZone, type DnsZone } from './dns-zone.js';

export interface ZoneSourceOptions {
  file: string;
  /** The domain the server serves; a records file for another domain is refused. */
  domain: string;
  ttl: number;
  log: (line: string) => void;
  /** How often the file's stat is polled, in ms. */
  pollMs?: number;
  /** false: follow the file by polling alone (for tests of the fallback). */
  watch?: boolean;
}

export interface ZoneSource {
  /** The zone of the last good records file. */
  current(): DnsZone;
  /** Reads the file now; resolves to whether it was good (and is now served). Never rejects. */
  reload(): Promise<boolean>;
  /** Stops watching and polling. */
  close(): void;
}

const DEFAULT_POLL_MS = 1000;
/** Editors and renames send several events per change: one reload after they settle. */
const WATCH_SETTLE_MS = 25;

/**
 * Loads `opts.file` and keeps following it. Throws (ValidationError or
 * MembraneError) when the first load fails: a server must not start with no
 * records. The caller closes the source.
 */
export async function openZoneSource(opts: ZoneSourceOptions): Promise<ZoneSource> {
  let serial = 0;
  const load = async (): Promise<DnsZone> => {
    const records = await readDnsRecordsFile(opts.file);
    if (records.domain !== opts.domain) {
      throw new ValidationError(`${opts.file}: domain`, `the records are for "${records.domain}" but the server serves "${opts.domain}" (--domain)`);
    }
    // The SOA serial grows with every version, and reads as the time it was loaded, as CoreDNS's does.
    const next = Math.max(serial + 1, Math.floor(Date.now() / 1000));
    const zone = buildZone(records, { ttl: opts.ttl, serial: next });
    serial = next;
    return zone;
  };

  let zone = await load();
  let seen = statSignature(opts.file);
  opts.log(`dns: loaded ${opts.file}: ${zone.services} services, ${zone.pods} pods (serial ${zone.soa.data.serial})`);

  // Reloads run one after another, so an older read never replaces a newer one.
  let chain: Promise<boolean> = Promise.resolve(true);
  const reload = (): Promise<boolean> => {
    chain = chain.then(async () => {
      seen = statSignature(opts.file);
      try {
        zone = await load();
        opts.log(`dns: reloaded ${opts.file}: ${zone.services} services, ${zone.pods} pods (serial ${zone.soa.data.serial})`);
        return true;
      } catch (err) {
        opts.log(`dns: ${errorMessage(err)}; keeping the previous records (serial ${zone.soa.data.serial})`);
        return false;
      }
    });
    return chain;
  };

  let settle: NodeJS.Timeout | undefined;
  let watcher: fs.FSWatcher | undefined;
  try {
    if (opts.watch !== false) {
      watcher = fs.watch(path.dirname(opts.file), (_event, name) => {
        if (name !== null && name !== path.basename(opts.file)) return;
        clearTimeout(settle);
        settle = setTimeout(() => void reload(), WATCH_SETTLE_MS);
      });
      watcher.on('error', () => { /* the poll below still follows the file */ });
    }
  } catch {
    // No inotify here (or the folder is gone): the poll alone follows the file.
  }
  const poll = setInterval(() => {
    if (statSignature(opts.file) !== seen) void reload();
  }, opts.pollMs ?? DEFAULT_POLL_MS);
  poll.unref();

  return {
    current: () => zone,
    reload,
    close: () => {
      clearInterval(poll);
      clearTimeout(settle);
      watcher?.close();
    },
  };
}

/** What changes when the file is rewritten, in place or by rename; "" when it is missing. */
function statSignature(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return '';
  }
}
