/**
 * `membrane observe agent-events`: what the agent did (endpoints created,
 * regenerated and deleted, policies updated, ipcache and service changes),
 * printed as `hubble observe agent-events` prints it. Compact lines are
 * Hubble's:
 *
 *   Nov 27 11:52:25.123: ENDPOINT_CREATED (id: 123, namespace: default, pod name: xwing)
 *   Nov 27 11:52:25.130: POLICY_UPDATED (labels: [k8s:io.cilium.k8s.policy.name=rule1,...], revision: 5, count: 2)
 */
import type { Command } from 'commander';
import type { AgentClient } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import type { AgentEvent, AgentEventRecord, ServiceUpsertNotificationAddr } from '../hubble/agent-events.js';
import { TIME_FORMATS, formatTime } from '../hubble/compact.js';
import { flowQuery } from './observe.js';

const OUTPUTS = ['compact', 'dict', 'json', 'jsonpb'];

export interface AgentEventPrintOptions {
  timeFormat: string;
  printNodeName: boolean;
}

const addr = (a: ServiceUpsertNotificationAddr) => (a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`);

/** What follows the type, as Hubble's printer details each kind of event; `UNKNOWN` when the notification is missing. */
export function agentEventDetails(e: AgentEvent, timeFormat = 'StampMilli'): string {
  switch (e.type) {
    case 'AGENT_EVENT_UNKNOWN':
      if (e.unknown) return `type: ${e.unknown.type}, notification: ${e.unknown.notification}`;
      break;
    case 'AGENT_STARTED':
      if (e.agent_start) return `start time: ${formatTime(e.agent_start.time, timeFormat)}`;
      break;
    case 'POLICY_UPDATED':
    case 'POLICY_DELETED': {
      const p = e.policy_update;
      if (p) return `labels: [${p.labels.join(',')}], revision: ${p.revision}, count: ${p.rule_count}`;
      break;
    }
    case 'ENDPOINT_REGENERATE_SUCCESS':
    case 'ENDPOINT_REGENERATE_FAILURE': {
      const r = e.endpoint_regenerate;
      if (r) return `id: ${r.id}, labels: [${r.labels.join(',')}]${r.error ? `, error: ${r.error}` : ''}`;
      break;
    }
    case 'ENDPOINT_CREATED':
    case 'ENDPOINT_DELETED': {
      const u = e.endpoint_update;
      if (u) return `id: ${u.id}${u.namespace ? `, namespace: ${u.namespace}` : ''}${u.pod_name ? `, pod name: ${u.pod_name}` : ''}`;
      break;
    }
    case 'IPCACHE_UPSERTED':
    case 'IPCACHE_DELETED': {
      const i = e.ipcache_update;
      if (!i) break;
      return [
        `cidr: ${i.cidr}, identity: ${i.identity}`,
        i.old_identity !== undefined ? `, old identity: ${i.old_identity}` : '',
        i.host_ip ? `, host ip: ${i.host_ip}` : '',
        i.old_host_ip ? `, old host ip: ${i.old_host_ip}` : '',
        `, encrypt key: ${i.encrypt_key}`,
      ].join('');
    }
    case 'SERVICE_UPSERTED': {
      const s = e.service_upsert;
      if (!s) break;
      return [
        `id: ${s.id}`,
        s.frontend_address ? `, frontend: ${addr(s.frontend_address)}` : '',
        s.backend_addresses.length ? `, backends: [${s.backend_addresses.map(addr).join(',')}]` : '',
        s.type ? `, type: ${s.type}` : '',
        s.traffic_policy ? `, traffic policy: ${s.traffic_policy}` : '',
        s.namespace ? `, namespace: ${s.namespace}` : '',
        s.name ? `, name: ${s.name}` : '',
      ].join('');
    }
    case 'SERVICE_DELETED':
      if (e.service_delete) return `id: ${e.service_delete.id}`;
      break;
  }
  return 'UNKNOWN';
}

/** `<time>[ [node]]: <TYPE> (<details>)`. */
export function formatAgentEventCompact(r: AgentEventRecord, o: AgentEventPrintOptions): string {
  const node = o.printNodeName ? ` [${r.node_name}]` : '';
  return `${formatTime(r.time, o.timeFormat)}${node}: ${r.agent_event.type} (${agentEventDetails(r.agent_event, o.timeFormat)})`;
}

/** Hubble's dict layout: TIMESTAMP, [NODE,] TYPE, DETAILS. */
export function formatAgentEventDict(r: AgentEventRecord, o: AgentEventPrintOptions): string {
  return [
    `  TIMESTAMP: ${formatTime(r.time, o.timeFormat)}`,
    ...(o.printNodeName ? [`       NODE: ${r.node_name}`] : []),
    `       TYPE: ${r.agent_event.type}`,
    `    DETAILS: ${agentEventDetails(r.agent_event, o.timeFormat)}`,
  ].join('\n');
}

/** Selection flags as /v1/agent-events takes them (the same as `observe`'s for flows); throws EINVAL naming the flag. */
export function agentEventsQuery(o: Record<string, unknown>): URLSearchParams {
  if (o['first'] !== undefined && o['follow']) throw new MembraneError('EINVAL', '--first: cannot be combined with --follow');
  return flowQuery(o, { whitelist: [], blacklist: [] });
}

interface AgentEventsFlags {
  output?: string; timeFormat?: string; printNodeName?: boolean;
  last?: string; first?: string; all?: boolean; follow?: boolean; since?: string; until?: string;
}

/** The flags `agent-events` takes (commander's attribute names). */
const FLAGS = ['last', 'first', 'all', 'follow', 'since', 'until', 'output', 'timeFormat', 'printNodeName'];

/**
 * Adds `agent-events` under `membrane observe` (registered first).
 *
 * Why the flags are read with optsWithGlobals: the root command takes its
 * global options (--socket, --lab) anywhere on the line, so it hands
 * everything from the first option on to `observe`, which parses the flags
 * it knows (it has all of these, for flows) before it dispatches here. The
 * flags this command declares (for its help) have no defaults, so that
 * the values `observe` parsed show through. A flow filter flag given here
 * is refused, as Hubble refuses it.
 */
export function registerAgentEventsCommand(program: Command, client: () => Promise<AgentClient>): void {
  const observe = program.commands.find((c) => c.name() === 'observe');
  if (!observe) throw new Error('registerAgentEventsCommand: register the observe command first');
  observe
    .command('agent-events')
    .description('show what the agent did: endpoints, policy, ipcache and service changes, like `hubble observe agent-events`')
    .option('--last <n>', 'the last N events (default 20)')
    .option('--first <n>', 'the first N events in the ring')
    .option('--all', 'every event in the ring')
    .option('-f, --follow', 'keep following new events')
    .option('--since <time>', 'events since a time or a duration ago (30s, 5m)')
    .option('--until <time>', 'events until a time or a duration ago')
    .option('-o, --output <format>', `${OUTPUTS.join(', ')} (default compact)`)
    .option('--time-format <format>', `${TIME_FORMATS.join(', ')} (default StampMilli)`)
    .option('--print-node-name', 'print the node name')
    .action(async (_local: unknown, cmd: Command) => {
      for (const opt of observe.options) {
        const name = opt.attributeName();
        if (!FLAGS.includes(name) && observe.getOptionValueSource(name) === 'cli') {
          throw new MembraneError('EINVAL', `${opt.long ?? opt.flags}: not a flag of observe agent-events (flow filters apply to flows only)`);
        }
      }
      const o = cmd.optsWithGlobals<AgentEventsFlags>();
      const output = o.output ?? 'compact';
      const timeFormat = o.timeFormat ?? 'StampMilli';
      if (!OUTPUTS.includes(output)) throw new MembraneError('EINVAL', `--output: "${output}" is not one of ${OUTPUTS.join(', ')}`);
      if (!TIME_FORMATS.includes(timeFormat)) throw new MembraneError('EINVAL', `--time-format: "${timeFormat}" is not one of ${TIME_FORMATS.join(', ')}`);
      const query = agentEventsQuery(o as Record<string, unknown>);
      const opts: AgentEventPrintOptions = { timeFormat, printNodeName: !!o.printNodeName };
      let n = 0;
      const print = (obj: unknown) => {
        const line = obj as Partial<AgentEventRecord> & { lost_events?: { num_events_lost: number } };
        if (line.lost_events) {
          process.stderr.write(`warning: ${line.lost_events.num_events_lost} agent events lost: this reader fell behind\n`);
          return;
        }
        const r = line as AgentEventRecord;
        // As Hubble: json is the event alone, jsonpb the whole response.
        if (output === 'json') process.stdout.write(`${JSON.stringify(r.agent_event)}\n`);
        else if (output === 'jsonpb') process.stdout.write(`${JSON.stringify(r)}\n`);
        else if (output === 'dict') process.stdout.write(`${n++ > 0 ? '------------\n' : ''}${formatAgentEventDict(r, opts)}\n`);
        else process.stdout.write(`${formatAgentEventCompact(r, opts)}\n`);
      };
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      try {
        await (await client()).agentEvents(query, print, ac.signal);
      } finally {
        process.off('SIGINT', stop);
      }
    });
}
