/**
 * Tells the agent when the node's links or addresses change, so NodePort
 * frontends follow the node's addresses and the node-device programs reach
 * devices that appear after the agent started (a lab's world link, a NIC
 * brought up late), as Cilium's device and address detection does. One
 * `ip monitor` child in the agent's network namespace (netlink events, no
 * polling), gone with the agent's stdin pipe to it; bursts of events
 * become one call of `onChange`.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface NodeWatchOptions {
  onChange: () => void;
  log: (msg: string) => void;
  /** Events closer together than this become one call (ms). */
  settleMs?: number;
}

export class NodeChangeWatch {
  private readonly child: ChildProcess;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** Starts watching; stop() ends the child. */
  constructor(private readonly opts: NodeWatchOptions) {
    // Through a shell that ends `ip monitor` when its stdin closes (an agent killed outright leaves no watcher
    // behind) and exits itself when `ip monitor` does, so that its end is reported.
    this.child = spawn('sh', ['-c', 'exec 3<&0; ip -o monitor link address & ip=$!; { read _ <&3; kill $ip; } & wait $ip'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', () => this.schedule());
    this.child.on('error', (err) => opts.log(`watching the node's links and addresses failed: ${err.message}; NodePort follows them only at start`));
    this.child.on('exit', (code, signal) => {
      if (!this.stopped) opts.log(`ip monitor exited (${signal ?? code}); NodePort follows the node's links and addresses only at start now`);
    });
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.opts.onChange();
    }, this.opts.settleMs ?? 100);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.child.stdin?.end();
  }
}
