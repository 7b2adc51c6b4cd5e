/**
 * One agent per state dir: a pid file taken with O_EXCL. A file left by a
 * dead agent (SIGKILL, crash) is taken over at once, so a restart never
 * waits; one held by a live agent refuses the second.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { MembraneError } from '../common/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent');
  } catch {
    return false;
  }
}

/** Takes the pid file; returns its release function. Throws EEXIST when a live agent holds it. */
export function takePidLock(file: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new MembraneError('ESTATE', `cannot create ${file}`, { cause: err });
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new MembraneError('EEXIST', `another membrane agent (pid ${pid}) already uses this state dir (${file}); stop it first`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new MembraneError('ESTATE', `cannot take ${file}`);
}
