import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The executables a lab runs: the membrane CLI (agents, built-in workloads)
 * and the CNI plugin. Found from this module's own location (dist/lab/ or
 * src/lab/ of the repository), never from a fixed path, so a checkout
 * anywhere works.
 */
export interface LabToolchain {
  /** The repository root. */
  repoRoot: string;
  /** The `membrane` executable (agents are started with it). */
  membrane: string;
  /** Folder of CNI plugin executables (CNI_PATH). */
  cniBinDir: string;
  /** The CNI plugin's executable name, also the `type` in the network config. */
  cniPlugin: string;
  /** PATH given to pod processes and `lab exec`: the repository's bin/ first. */
  podPath: string;
}

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function defaultToolchain(root: string = repoRoot()): LabToolchain {
  const bin = path.join(root, 'bin');
  return {
    repoRoot: root,
    membrane: path.join(bin, 'membrane'),
    cniBinDir: bin,
    cniPlugin: 'membrane-cni',
    podPath: `${bin}:${SYSTEM_PATH}`,
  };
}
