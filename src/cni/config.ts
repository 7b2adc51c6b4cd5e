/**
 * Everything the runtime hands the plugin, parsed and validated up front
 * (pure: the caller passes process.env and the stdin text). A bad input
 * never reaches a command: it becomes a CniError with the spec's code and a
 * message that names the variable or field.
 */
import { CniCode, CniError } from './errors.js';
import { parseCniArgs, type PodArgs } from './cni-args.js';

export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** Verbs added by spec 1.1.0; a 1.0.0 config cannot ask for them. */
const SINCE_1_1: readonly CniCommand[] = ['STATUS', 'GC'];

export const DEFAULT_AGENT_SOCKET = '/var/run/membrane/agent.sock';

/** The CNI_* environment of one invocation. */
export interface CniEnv {
  command: CniCommand;
  /** Present for ADD, DEL and CHECK. */
  containerId: string;
  ifName: string;
  /** Path of the pod's network namespace; may be empty for DEL. */
  netns: string;
  podArgs: PodArgs;
}

export interface GcAttachment {
  containerId: string;
  ifName: string;
}

/** The plugin's network configuration (stdin), validated. Unknown keys are allowed and ignored. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  agentSocket: string;
  mtu?: number;
  logFile?: string;
  /** Labels from the config's `args` (CNI "args" convention). */
  labels: Record<string, string>;
  /** The previous ADD result, unparsed (CHECK parses it; DEL does not need it). */
  prevResult?: unknown;
  /** GC only: `cni.dev/valid-attachments`. */
  validAttachments?: GcAttachment[];
}

/** One invocation, fully parsed: what every command receives. */
export interface Invocation {
  env: CniEnv;
  conf: NetConf;
}

const fail = (code: number, msg: string, details?: string): never => {
  throw new CniError(code, msg, details);
};

/** Reads CNI_COMMAND. Code 4 when it is missing or not a CNI verb. */
export function parseCommand(env: NodeJS.ProcessEnv): CniCommand {
  const raw = env['CNI_COMMAND'];
  if (!raw) return fail(CniCode.InvalidEnvironment, 'CNI_COMMAND is not set', `expected one of ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    return fail(CniCode.InvalidEnvironment, `CNI_COMMAND "${raw}" is not a CNI command`, `expected one of ${COMMANDS.join(', ')}`);
  }
  return raw as CniCommand;
}

// The spec's container id: alphanumeric first, then alphanumerics, _ . -
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// The spec's network name uses the same alphabet.
const NETWORK_NAME = CONTAINER_ID;

/** The spec's rules for an interface name: 1-15 chars, not . or .., no / : or whitespace. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 15) return `"${name}" is ${name.length} characters long; interface names are at most 15`;
  if (name === '.' || name === '..') return `"${name}" is not allowed`;
  if (/[/:\s]/.test(name)) return `"${name}" must not contain "/", ":" or whitespace`;
  return undefined;
}

/**
 * Reads the CNI_* variables a command needs (code 4 naming the variable when
 * one is missing or malformed). As the spec says: ADD and CHECK need the
 * container id, netns and interface name; DEL does not need the netns (it
 * may already be gone); VERSION, STATUS and GC need none.
 */
export function parseEnv(command: CniCommand, env: NodeJS.ProcessEnv): CniEnv {
  const attachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const required = (name: string, needed: boolean): string => {
    const v = env[name] ?? '';
    if (needed && v === '') fail(CniCode.InvalidEnvironment, `${name} is required for ${command} but is not set`);
    return v;
  };
  const containerId = required('CNI_CONTAINERID', attachment);
  const ifName = required('CNI_IFNAME', attachment);
  const netns = required('CNI_NETNS', command === 'ADD' || command === 'CHECK');
  if (containerId !== '' && !CONTAINER_ID.test(containerId)) {
    fail(CniCode.InvalidEnvironment, `CNI_CONTAINERID "${containerId}" is invalid`,
      'a container id starts with a letter or digit, followed by letters, digits, "_", "." or "-"');
  }
  // The path goes into `ip -batch` lines, which split at whitespace.
  if (netns !== '' && (!netns.startsWith('/') || /\s/.test(netns))) {
    fail(CniCode.InvalidEnvironment, `CNI_NETNS "${netns}" must be an absolute path without whitespace`);
  }
  if (ifName !== '') {
    const problem = interfaceNameProblem(ifName);
    if (problem) fail(CniCode.InvalidEnvironment, `CNI_IFNAME ${problem}`);
  }
  return { command, containerId, ifName, netns, podArgs: parseCniArgs(env['CNI_ARGS'] ?? '') };
}

/** Parses stdin as JSON (code 6 when it is not a JSON object). */
export function parseJsonObject(stdin: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (cause) {
    return fail(CniCode.DecodingFailure, 'the network configuration on stdin is not valid JSON', (cause as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(CniCode.DecodingFailure, 'the network configuration on stdin must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The cniVersion VERSION answers with: the requested one when membrane speaks it, else the latest. */
export function versionToAnswer(stdin: string): CniVersion {
  try {
    const requested = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if ((SUPPORTED_VERSIONS as readonly unknown[]).includes(requested)) return requested as CniVersion;
  } catch {
    // VERSION may come with an empty or partial stdin; it still gets an answer.
  }
  return LATEST_VERSION;
}

/** The config's cniVersion when membrane speaks it (for the error JSON), otherwise undefined. */
export function peekVersion(stdin: string): CniVersion | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return (SUPPORTED_VERSIONS as readonly unknown[]).includes(v) ? (v as CniVersion) : undefined;
  } catch {
    return undefined;
  }
}

function optionalString(obj: Record<string, unknown>, key: string, path = key): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return fail(CniCode.InvalidNetworkConfig, `${path} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function requiredString(obj: Record<string, unknown>, key: string): string {
  const v = optionalString(obj, key);
  if (v === undefined || v === '') return fail(CniCode.InvalidNetworkConfig, `${key} is required in the network configuration`);
  return v;
}

/**
 * Labels from the config's `args`, in either spelling:
 *   "args": {"labels": {"app": "web"}}                      (membrane's short form)
 *   "args": {"cni": {"labels": [{"key": "app", "value": "web"}]}}  (the CNI conventions)
 * Label syntax itself is the agent's to judge; here only the shape is checked.
 */
function configLabels(args: unknown): Record<string, string> {
  if (args === undefined) return {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return fail(CniCode.InvalidNetworkConfig, 'args must be an object');
  }
  const labels: Record<string, string> = {};
  const short = (args as Record<string, unknown>)['labels'];
  if (short !== undefined) {
    if (typeof short !== 'object' || short === null || Array.isArray(short)) {
      fail(CniCode.InvalidNetworkConfig, 'args.labels must be an object of string values, e.g. {"app": "web"}');
    }
    for (const [k, v] of Object.entries(short as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(CniCode.InvalidNetworkConfig, `args.labels.${k} must be a string, got ${JSON.stringify(v)}`);
      labels[k] = v as string;
    }
  }
  const cni = (args as Record<string, unknown>)['cni'];
  const list = typeof cni === 'object' && cni !== null ? (cni as Record<string, unknown>)['labels'] : undefined;
  if (list !== undefined) {
    if (!Array.isArray(list)) fail(CniCode.InvalidNetworkConfig, 'args.cni.labels must be an array of {"key", "value"}');
    (list as unknown[]).forEach((item, i) => {
      const kv = (item ?? {}) as Record<string, unknown>;
      if (typeof kv['key'] !== 'string' || typeof kv['value'] !== 'string') {
        fail(CniCode.InvalidNetworkConfig, `args.cni.labels[${i}] must be {"key": string, "value": string}, got ${JSON.stringify(item)}`);
      }
      labels[kv['key'] as string] = kv['value'] as string;
    });
  }
  return labels;
}

/** `cni.dev/valid-attachments` (libcni also sends the misspelt `cni.dev/attachments` of early 1.1 drafts). */
function validAttachments(obj: Record<string, unknown>): GcAttachment[] {
  const key = obj['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = obj[key];
  // Without the list, GC would remove every endpoint of the node: refuse instead.
  if (list === undefined) return fail(CniCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the network configuration');
  if (!Array.isArray(list)) return fail(CniCode.InvalidNetworkConfig, `${key} must be an array of {"containerID", "ifname"}`);
  return list.map((item: unknown, i) => {
    const a = (item ?? {}) as Record<string, unknown>;
    if (typeof a['containerID'] !== 'string' || typeof a['ifname'] !== 'string') {
      fail(CniCode.InvalidNetworkConfig, `${key}[${i}] must be {"containerID": string, "ifname": string}, got ${JSON.stringify(item)}`);
    }
    return { containerId: a['containerID'] as string, ifName: a['ifname'] as string };
  });
}

/**
 * Parses and validates the network configuration for `command`:
 * code 6 for bad JSON, 1 for an unsupported cniVersion (or STATUS/GC asked
 * of a 1.0.0 config), 7 for a missing or mistyped field (named).
 */
export function parseNetConf(stdin: string, command: CniCommand): NetConf {
  const obj = parseJsonObject(stdin);
  const version = obj['cniVersion'];
  if (typeof version !== 'string' || version === '') {
    return fail(CniCode.InvalidNetworkConfig, 'cniVersion is required in the network configuration');
  }
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    return fail(CniCode.IncompatibleVersion, `cniVersion "${version}" is not supported`,
      `membrane-cni supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (SINCE_1_1.includes(command) && version !== '1.1.0') {
    return fail(CniCode.IncompatibleVersion, `${command} needs cniVersion 1.1.0; the configuration says ${version}`);
  }
  const name = requiredString(obj, 'name');
  if (!NETWORK_NAME.test(name)) {
    fail(CniCode.InvalidNetworkConfig, `name "${name}" is invalid`,
      'a network name starts with a letter or digit, followed by letters, digits, "_", "." or "-"');
  }
  const conf: NetConf = {
    cniVersion: version as CniVersion,
    name,
    type: requiredString(obj, 'type'),
    agentSocket: optionalString(obj, 'agentSocket') ?? DEFAULT_AGENT_SOCKET,
    labels: configLabels(obj['args']),
  };
  if (conf.agentSocket === '') fail(CniCode.InvalidNetworkConfig, 'agentSocket must not be empty');
  const mtu = obj['mtu'];
  if (mtu !== undefined) {
    if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
      fail(CniCode.InvalidNetworkConfig, `mtu must be an integer between 576 and 65535, got ${JSON.stringify(mtu)}`);
    }
    conf.mtu = mtu as number;
  }
  const logFile = optionalString(obj, 'logFile');
  if (logFile !== undefined) {
    if (!logFile.startsWith('/')) fail(CniCode.InvalidNetworkConfig, `logFile must be an absolute path, got "${logFile}"`);
    conf.logFile = logFile;
  }
  if (obj['prevResult'] !== undefined) conf.prevResult = obj['prevResult'];
  if (command === 'GC') conf.validAttachments = validAttachments(obj);
  return conf;
}
