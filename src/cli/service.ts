/**
 * `membrane service list|get`: the load balancer's frontends, printed as
 * Cilium prints them (cilium-semantics.md §7):
 *
 *   ID   Frontend             Service Type   Backend
 *   1    10.96.0.12:80/TCP    ClusterIP      1 => 10.244.1.20:80/TCP (active)
 *                                            2 => 10.244.1.21:80/TCP (terminating)
 *
 * the first backend on the frontend's row, the others one per line below it,
 * numbered within the frontend.
 */
import type { Command } from 'commander';
import type { AgentClient } from '../api/client.js';
import type { ServiceFrontendModel } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import { table } from './format.js';

export function formatServiceList(frontends: ServiceFrontendModel[]): string {
  return table(
    ['ID', 'Frontend', 'Service Type', 'Backend'],
    frontends.map((f) => [
      String(f.id),
      `${f.frontend.ip}:${f.frontend.port}/${f.frontend.protocol}`,
      f.type,
      f.backends.map((b, i) => `${i + 1} => ${b.ip}:${b.port}/${b.protocol} (${b.state})`).join('\n'),
    ]),
  );
}

function outputFormat(o: { output: string }): 'table' | 'json' {
  if (o.output !== 'table' && o.output !== 'json') throw new MembraneError('EINVAL', `--output: "${o.output}" is not table or json`);
  return o.output;
}

export function registerServiceCommand(program: Command, client: () => Promise<AgentClient>): void {
  const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');
  const service = program.command('service').description('load-balanced services on this node');
  service.command('list').description('list the load balancer\'s frontends and their backends').option('-o, --output <fmt>', 'table or json', 'table')
    .action(async (o: { output: string }) => {
      const format = outputFormat(o);
      const list = await (await client()).listServices();
      if (format === 'json') json(list);
      else process.stdout.write(formatServiceList(list));
    });
  service.command('get <id>').description('one frontend by id').option('-o, --output <fmt>', 'table or json', 'table')
    .action(async (id: string, o: { output: string }) => {
      const format = outputFormat(o);
      if (!/^\d+$/.test(id)) throw new MembraneError('EINVAL', `service id "${id}" is not a number`);
      const f = await (await client()).getService(Number(id));
      if (format === 'json') json(f);
      else process.stdout.write(formatServiceList([f]));
    });
}
