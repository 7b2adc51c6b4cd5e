/**
 * The `membrane` command. Agent-facing commands reach the agent at
 * --socket (default /var/run/membrane/agent.sock), or at a lab node's agent
 * with --lab NAME.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AgentClient, DEFAULT_AGENT_SOCKET } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import { registerObserveCommand } from './observe.js';
import { registerAgentEventsCommand } from './agent-events.js';
import { registerAgentCommand } from './agent-command.js';
import { registerPolicyTraceCommand } from './trace.js';
import { registerServiceCommand } from './service.js';
import { formatEndpointList, formatIdentityList, formatStatus } from './format.js';

const program = new Command();
program
  .name('membrane')
  .description('eBPF networking, security and observability for containers')
  .version('0.1.0')
  .option('--socket <path>', 'agent API socket (default /var/run/membrane/agent.sock)')
  .option('--lab <name>', 'talk to the agent of this lab (env MEMBRANE_LAB)')
  .showHelpAfterError();

async function client(): Promise<AgentClient> {
  const g = program.opts<{ socket?: string; lab?: string }>();
  if (g.socket) return new AgentClient(g.socket);
  const lab = g.lab ?? process.env['MEMBRANE_LAB'];
  if (lab) {
    const { resolveAgentSocket } = await import('../lab/socket.js');
    return new AgentClient(resolveAgentSocket(lab));
  }
  return new AgentClient(DEFAULT_AGENT_SOCKET);
}

function readInput(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (cause) {
    throw new MembraneError('EINVAL', `cannot read ${file === '-' ? 'standard input' : file}: ${(cause as Error).message}`, { cause });
  }
}

const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');

registerAgentCommand(program);

program.command('status').description('agent and datapath status').option('-o, --output <fmt>', 'text or json', 'text')
  .action(async (o: { output: string }) => {
    const s = await (await client()).status();
    if (o.output === 'json') json(s);
    else process.stdout.write(formatStatus(s));
  });

const endpoint = program.command('endpoint').description('endpoints on this node');
endpoint.command('list').description('list endpoints with their policy enforcement and identity').option('-o, --output <fmt>', 'table or json', 'table')
  .action(async (o: { output: string }) => {
    const eps = await (await client()).listEndpoints();
    if (o.output === 'json') json(eps);
    else process.stdout.write(formatEndpointList(eps));
  });
endpoint.command('get <id>').description('one endpoint as JSON').action(async (id: string) => {
  if (!/^\d+$/.test(id)) throw new MembraneError('EINVAL', `endpoint id "${id}" is not a number`);
  json(await (await client()).getEndpoint(Number(id)));
});

const identity = program.command('identity').description('security identities');
identity.command('list').description('list identities and their labels').option('-o, --output <fmt>', 'table or json', 'table')
  .action(async (o: { output: string }) => {
    const ids = await (await client()).listIdentities();
    if (o.output === 'json') json(ids);
    else process.stdout.write(formatIdentityList(ids));
  });

const policy = program.command('policy').description('network policies');
policy.command('import <file>').description('import policies from a YAML or JSON file (- for stdin); a policy of the same name is replaced')
  .option('-n, --namespace <ns>', 'namespace for policies that name none', 'default')
  .action(async (file: string, o: { namespace: string }) => {
    const res = await (await client()).importPolicies({ text: readInput(file), defaultNamespace: o.namespace });
    for (const r of res.results) {
      const kind = r.ref.kind === 'NetworkPolicy' ? 'networkpolicy.networking.k8s.io' : `${r.ref.kind.toLowerCase()}.cilium.io`;
      process.stdout.write(`${kind}/${r.ref.name} ${r.action}\n`);
    }
    for (const w of res.warnings ?? []) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
    process.stdout.write(`Revision: ${res.revision}\n`);
  });
policy.command('get').description('print the rules in force (namespace-scoped, with label sources), then the revision')
  .option('-o, --output <fmt>', 'json (the rules as enforced) or yaml (the policies as imported)', 'json')
  .action(async (o: { output: string }) => {
    const list = await (await client()).listPolicies();
    if (o.output === 'yaml') {
      const YAML = await import('yaml');
      process.stdout.write(list.policies.map((p) => YAML.stringify(p.object)).join('---\n'));
    } else if (o.output === 'json') {
      json(list.policies.flatMap((p) => p.rules));
    } else {
      throw new MembraneError('EINVAL', `--output: "${o.output}" is not json or yaml`);
    }
    process.stdout.write(`Revision: ${list.revision}\n`);
  });
policy.command('delete [name]').description('delete a policy by name, or all with --all')
  .option('--all', 'delete every policy')
  .option('-n, --namespace <ns>', 'namespace of the policy', 'default')
  .option('--kind <kind>', 'CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy', 'CiliumNetworkPolicy')
  .action(async (name: string | undefined, o: { all?: boolean; namespace: string; kind: string }) => {
    if (!!o.all === (name !== undefined)) throw new MembraneError('EINVAL', 'give either a policy name or --all');
    const kinds = ['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy'];
    if (!kinds.includes(o.kind)) throw new MembraneError('EINVAL', `--kind: "${o.kind}" is not one of ${kinds.join(', ')}`);
    const c = await client();
    const res = o.all ? await c.deleteAllPolicies() : await c.deletePolicy({
      kind: o.kind as 'CiliumNetworkPolicy', namespace: o.kind === 'CiliumClusterwideNetworkPolicy' ? '' : o.namespace, name: name!,
    });
    if (!o.all && res.deleted.length === 0) throw new MembraneError('ENOTFOUND', `no ${o.kind} ${name} in namespace ${o.namespace}`);
    for (const d of res.deleted) process.stdout.write(`${d.kind}/${d.namespace ? `${d.namespace}/` : ''}${d.name} deleted\n`);
    process.stdout.write(`Revision: ${res.revision}\n`);
  });
registerPolicyTraceCommand(policy, client);

registerServiceCommand(program, client);

registerObserveCommand(program, client);
registerAgentEventsCommand(program, client);

async function main(): Promise<void> {
  const { registerLabCommands } = await import('../lab/commands.js');
  registerLabCommands(program);
  const { registerWorkloadCommands } = await import('../workload/commands.js');
  registerWorkloadCommands(program);
  program.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const e = err as MembraneError;
    process.stderr.write(`Error: ${e.message}\n`);
    process.exit(e.code === 'EINVAL' ? 2 : 1);
  }
}

void main();
