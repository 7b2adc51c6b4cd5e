import { netnsPath } from './names.js';

/**
 * The command lines that put a process into a pod: its network namespace
 * (nsenter) and, when the pod has a resolv.conf, a mount namespace of its
 * own (unshare, private propagation) in which that file is bind-mounted over
 * /etc/resolv.conf, so the pod resolves through the cluster DNS while the
 * machine's own file stays untouched. Neither nsenter --net nor unshare
 * --mount forks: the pid the lab starts is the pod's process. Pure.
 */

/**
 * Runs the pod's command and writes its exit code to a file when it ends,
 * so `lab get pods` can tell Completed from Failed after the lab command that
 * started it is gone. SIGTERM and SIGINT are passed on to the command.
 * Arguments: the exit code file, the resolv.conf to mount ("" for none), the command.
 */
export const POD_WRAPPER = [
  'exitfile=$1; resolv=$2; shift 2',
  'if [ -n "$resolv" ]; then mount --bind "$resolv" /etc/resolv.conf || exit 125; fi',
  '"$@" & child=$!',
  'trap \'kill -TERM "$child" 2>/dev/null\' TERM INT HUP',
  'while :; do wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null || break; done',
  'echo "$rc" > "$exitfile"',
  'exit "$rc"',
].join('\n');

/** Mounts $0 over /etc/resolv.conf, then becomes the command. */
const EXEC_WRAPPER = 'mount --bind "$0" /etc/resolv.conf && exec "$@"';

function enter(netns: string, resolvConf: string | undefined): string[] {
  const net = ['nsenter', `--net=${netnsPath(netns)}`, '--'];
  return resolvConf === undefined ? net : [...net, 'unshare', '--mount', '--propagation', 'private', '--'];
}

/** The pod's main process: `argv` under POD_WRAPPER. */
export function podLaunchArgv(netns: string, exitFile: string, resolvConf: string | undefined, argv: string[]): string[] {
  return [...enter(netns, resolvConf), 'sh', '-c', POD_WRAPPER, 'membrane-pod', exitFile, resolvConf ?? '', ...argv];
}

/** `lab exec`: `argv` in the pod, seeing its resolv.conf. */
export function podExecArgv(netns: string, resolvConf: string | undefined, argv: string[]): string[] {
  if (resolvConf === undefined) return [...enter(netns, undefined), ...argv];
  return [...enter(netns, resolvConf), 'sh', '-c', EXEC_WRAPPER, resolvConf, ...argv];
}
