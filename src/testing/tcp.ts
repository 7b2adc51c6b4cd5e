/**
 * Long-lived TCP connections between test pods: an echo server and a line
 * client, each a real process in its pod's netns (node's net module), so a
 * test can watch one connection survive (or not) what happens around it.
 */
import type { ChildProcess } from 'node:child_process';
import type { TestPod } from './pods.js';

/** Resolves once `child` printed a line matching `re`; false after `timeoutMs`. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(ok);
    };
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.split('\n').some((l) => re.test(l))) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    child.stdout!.on('data', onData);
  });
}

/** Starts an echo server on `port` in `pod`; resolves once it listens. */
export async function startEchoServer(pod: TestPod, port: number): Promise<ChildProcess> {
  const srv = pod.spawn(['node', '-e', `require('net').createServer((s) => s.pipe(s)).listen(${port}, () => console.log('listening'))`]);
  if (!(await waitForLine(srv, /listening/, 10_000))) throw new Error(`echo server in ${pod.name} did not start`);
  return srv;
}

export interface LineClient {
  /** Sends `line` and tells whether its echo came back within `timeoutMs`. */
  roundTrip(line: string, timeoutMs?: number): Promise<boolean>;
  close(): void;
}

/** Opens one TCP connection from `pod` to ip:port, kept open until close(). */
export async function openLineClient(pod: TestPod, ip: string, port: number): Promise<LineClient> {
  const c = pod.spawn(['node', '-e',
    `const s = require('net').connect(${port}, '${ip}', () => console.log('connected')); s.setNoDelay(true);` +
    `process.stdin.on('data', (d) => s.write(d)); s.on('data', (d) => process.stdout.write('echo:' + d)); s.on('close', () => process.exit(1));`]);
  if (!(await waitForLine(c, /connected/, 5_000))) throw new Error(`${pod.name} could not connect to ${ip}:${port}`);
  return {
    roundTrip(line, timeoutMs = 5_000) {
      const echoed = waitForLine(c, new RegExp(`^echo:${line}$`), timeoutMs);
      c.stdin!.write(`${line}\n`);
      return echoed;
    },
    close: () => c.kill(),
  };
}
