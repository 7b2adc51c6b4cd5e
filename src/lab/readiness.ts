import fs from 'node:fs';
import { MembraneError } from '../common/errors.js';
import { podFiles } from './names.js';
import { podStatus } from './pod.js';
import type { PodRecord } from './state.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(lab: string, pod: PodRecord, lines = 15): string {
  try {
    return fs.readFileSync(podFiles(lab, pod.namespace, pod.name).log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/**
 * Waits until every pod is ready (running, and listening when its workload
 * has a port) or has completed. Throws, with the end of the pod's log, when
 * one fails or is still not ready after `timeoutMs`.
 */
export async function waitReady(lab: string, pods: PodRecord[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = pods;
  while (pending.length > 0) {
    const next: PodRecord[] = [];
    for (const pod of pending) {
      const status = podStatus(lab, pod);
      if (status.phase === 'Completed') continue; // a command that ran to its end
      if (status.phase === 'Failed') {
        throw new MembraneError('EEXEC', `pod ${pod.namespace}/${pod.name} failed` +
          `${status.exitCode !== undefined ? ` (exit ${status.exitCode})` : ''}; its output:\n${logTail(lab, pod)}`);
      }
      if (!status.ready) next.push(pod);
    }
    pending = next;
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new MembraneError('EEXEC', `pod ${pending[0]!.namespace}/${pending[0]!.name} not ready after ${timeoutMs / 1000} s; its output:\n${logTail(lab, pending[0]!)}`);
    }
    await sleep(100);
  }
}
