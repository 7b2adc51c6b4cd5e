import fs from 'node:fs';
import { Command, Option } from 'commander';
import { MembraneError, errorMessage } from '../common/errors.js';
import { formatNamespaces, formatPods, formatServices, formatStatus, podsJson } from './format.js';
import { Lab } from './lab.js';
import { DEFAULT_LAB } from './names.js';
import { defaultToolchain, type LabToolchain } from './toolchain.js';

/**
 * `membrane lab ...`: the lab's command table. Each action only reads its
 * flags, calls the Lab and prints; errors are thrown as MembraneErrors for
 * the CLI's main to print.
 */

/** The lab selected by `--lab` (on the root command), else $MEMBRANE_LAB, else "membrane". */
export function selectedLab(cmd: Command): string {
  const opts = cmd.optsWithGlobals() as { lab?: string };
  return opts.lab ?? process.env['MEMBRANE_LAB'] ?? DEFAULT_LAB;
}

function readManifest(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new MembraneError('EINVAL', `cannot read ${file === '-' ? 'standard input' : file}: ${errorMessage(err)}`, { path: '-f', cause: err });
  }
}

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['json', 'wide']);
}

const POD_KINDS = new Set(['pods', 'pod', 'po']);
const NAMESPACE_KINDS = new Set(['namespaces', 'namespace', 'ns']);
const SERVICE_KINDS = new Set(['services', 'service', 'svc']);

/**
 * Adds `lab` and its subcommands to `program`, and the global `--lab NAME`
 * option when the program lacks it. `toolchain`: the executables the lab runs
 * (this repository's by default).
 */
export function registerLabCommands(program: Command, toolchain: LabToolchain = defaultToolchain()): void {
  if (!program.options.some((o) => o.long === '--lab')) {
    program.addOption(new Option('--lab <name>', `lab to use (default: $MEMBRANE_LAB or "${DEFAULT_LAB}")`));
  }
  const lab = program.command('lab').description('a whole cluster on this machine: nodes and pods as network namespaces with real processes');
  const open = (cmd: Command) => new Lab(selectedLab(cmd), toolchain);

  lab.command('up')
    .description('start the lab: node network namespaces, each with its agent (no-op when already up)')
    .option('--nodes <n>', 'number of nodes (one for now)', (v) => Number(v), 1)
    .option('--agent-arg <flag>', 'one more flag for every node\'s agent, e.g. --agent-arg=--flow-buffer-size=64; repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (opts: { nodes: number; agentArg?: string[] }, cmd: Command) => {
      await open(cmd).up(opts.nodes, opts.agentArg ?? []);
    });

  lab.command('down')
    .description('stop the lab and remove everything it created (pods, agents, namespaces, pins, state)')
    .action(async (_opts: unknown, cmd: Command) => {
      await open(cmd).down();
    });

  lab.command('status')
    .description("show the lab's nodes, agents and pod counts (exit 1 unless up and healthy)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json']))
    .action(async (opts: { output?: string }, cmd: Command) => {
      const status = await open(cmd).status();
      process.stdout.write(opts.output === 'json' ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
      if (!status.up) process.exitCode = 1;
    });

  lab.command('socket')
    .description("print a node agent's socket path (for membrane --socket ...)")
    .option('--node <name>', 'node (default: the first)')
    .action((opts: { node?: string }, cmd: Command) => {
      process.stdout.write(open(cmd).socket(opts.node) + '\n');
    });

  lab.command('apply')
    .description('create or update the objects of a manifest (Namespace, Pod, Deployment, Service, EndpointSlice, policies)')
    .requiredOption('-f, --filename <file>', 'manifest file, or - for standard input')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .action(async (opts: { filename: string; namespace: string }, cmd: Command) => {
      await open(cmd).apply(readManifest(opts.filename), opts.namespace);
    });

  lab.command('delete')
    .description('delete the objects of a manifest')
    .requiredOption('-f, --filename <file>', 'manifest file, or - for standard input')
    .option('-n, --namespace <ns>', 'namespace of objects that name none', 'default')
    .option('--ignore-not-found', 'do not fail for objects that do not exist')
    .action(async (opts: { filename: string; namespace: string; ignoreNotFound?: boolean }, cmd: Command) => {
      const notFound = await open(cmd).delete(readManifest(opts.filename), { defaultNamespace: opts.namespace, ignoreNotFound: opts.ignoreNotFound ?? false });
      if (notFound > 0) process.exitCode = 1;
    });

  lab.command('get')
    .description('list pods, services or namespaces')
    .argument('<kind>', 'pods | services (svc) | namespaces')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'pods or services of every namespace')
    .addOption(outputOption())
    .action(async (kind: string, opts: { namespace: string; allNamespaces?: boolean; output?: string }, cmd: Command) => {
      const l = open(cmd);
      if (POD_KINDS.has(kind)) {
        const all = opts.allNamespaces ?? false;
        const pods = await l.pods(all ? undefined : opts.namespace);
        if (opts.output === 'json') process.stdout.write(podsJson(pods));
        else if (pods.length === 0) process.stderr.write(all ? 'No resources found\n' : `No resources found in ${opts.namespace} namespace.\n`);
        else process.stdout.write(formatPods(pods, { allNamespaces: all, wide: opts.output === 'wide' }));
      } else if (SERVICE_KINDS.has(kind)) {
        const all = opts.allNamespaces ?? false;
        const services = l.services(all ? undefined : opts.namespace);
        if (opts.output === 'json') process.stdout.write(JSON.stringify(services, null, 2) + '\n');
        else if (services.length === 0) process.stderr.write(all ? 'No resources found\n' : `No resources found in ${opts.namespace} namespace.\n`);
        else process.stdout.write(formatServices(services, { allNamespaces: all, wide: opts.output === 'wide' }));
      } else if (NAMESPACE_KINDS.has(kind)) {
        const namespaces = l.namespaces();
        process.stdout.write(opts.output === 'json' ? JSON.stringify(namespaces, null, 2) + '\n' : formatNamespaces(namespaces, opts.output === 'wide'));
      } else {
        throw new MembraneError('EINVAL', `the lab cannot list "${kind}": use pods, services or namespaces`, { path: 'kind' });
      }
    });

  lab.command('exec')
    .description('run a command in a pod\'s network namespace: membrane lab exec [NS/]POD -- CMD [ARGS...]')
    .argument('<pod>', 'NS/POD, or POD in the namespace of -n')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action(async (pod: string, command: string[], opts: { namespace: string }, cmd: Command) => {
      process.exitCode = await open(cmd).exec(pod, command, opts.namespace);
    });

  lab.command('label')
    .description('set (key=value) or remove (key-) labels of a pod or a namespace, as kubectl label does; returns once enforced')
    .usage('[options] [NS/]POD|ns/NAME key=value ... key- ...')
    .argument('<target>', 'NS/POD, POD in the namespace of -n, or ns/NAME for a namespace')
    .argument('<labels...>', 'key=value to set, key- to remove')
    .option('-n, --namespace <ns>', 'namespace of a POD given without one', 'default')
    .option('--overwrite', 'allow changing the value of an existing label')
    .action(async (target: string, labels: string[], opts: { namespace: string; overwrite?: boolean }, cmd: Command) => {
      await open(cmd).label(target, labels, { overwrite: opts.overwrite ?? false, defaultNamespace: opts.namespace });
    });

  lab.command('logs')
    .description("print a pod process's output")
    .argument('<pod>', 'NS/POD, or POD in the namespace of -n')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action((pod: string, opts: { namespace: string }, cmd: Command) => {
      process.stdout.write(open(cmd).logs(pod, opts.namespace));
    });
}
