/**
 * Where the service registry keeps its state between agent runs. One file
 * per service, so a change writes only that service (10,000 services must
 * not mean rewriting all of them on every change), each written atomically
 * (temp file, fsync, rename) after the kernel holds the change.
 *
 *   <dir>/<namespace>.<name>.json   { service, frontendIds, idCursor }
 *   <dir>/id-cursor.json            { idCursor }   (written on delete)
 *
 * Namespaces and service names are DNS labels (no dots), so the file name
 * is unambiguous.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { K8sServiceModel } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import { readJsonState, writeJsonState } from '../common/state.js';

export interface PersistedService {
  /** As received (validated again when loaded). */
  service: K8sServiceModel;
  /** Frontend key (`ip:port/PROTO`) -> id. */
  frontendIds: Record<string, number>;
}

export interface PersistedServices {
  services: PersistedService[];
  /** The last frontend id handed out. */
  idCursor: number;
}

/** The registry's persistence; a test passes an in-memory one. */
export interface ServiceStore {
  load(): PersistedServices;
  save(entry: PersistedService, idCursor: number): void;
  remove(namespace: string, name: string, idCursor: number): void;
}

const CURSOR_FILE = 'id-cursor.json';

/** A ServiceStore in a directory of the agent's state dir. Throws ESTATE for unreadable files. */
export class FileServiceStore implements ServiceStore {
  constructor(private readonly dir: string) {}

  private file(namespace: string, name: string): string {
    return path.join(this.dir, `${namespace}.${name}.json`);
  }

  load(): PersistedServices {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    let idCursor = readJsonState<{ idCursor?: number }>(path.join(this.dir, CURSOR_FILE), {}).idCursor ?? 0;
    const services: PersistedService[] = [];
    for (const f of readdirSync(this.dir).sort()) {
      if (!f.endsWith('.json') || f === CURSOR_FILE) continue;
      const entry = readJsonState<Partial<PersistedService & { idCursor: number }>>(path.join(this.dir, f), {});
      if (typeof entry.service !== 'object' || entry.service === null || typeof entry.frontendIds !== 'object' || entry.frontendIds === null) {
        throw new MembraneError('ESTATE', `service state file ${path.join(this.dir, f)} lacks service or frontendIds; move it away to start over`);
      }
      services.push({ service: entry.service, frontendIds: entry.frontendIds });
      if (typeof entry.idCursor === 'number') idCursor = Math.max(idCursor, entry.idCursor);
    }
    return { services, idCursor };
  }

  save(entry: PersistedService, idCursor: number): void {
    writeJsonState(this.file(entry.service.namespace, entry.service.name), { ...entry, idCursor });
  }

  remove(namespace: string, name: string, idCursor: number): void {
    // The cursor first: the removed file may have been the one that held it.
    writeJsonState(path.join(this.dir, CURSOR_FILE), { idCursor });
    rmSync(this.file(namespace, name), { force: true });
  }
}
