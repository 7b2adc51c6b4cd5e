import { MembraneError } from '../common/errors.js';
import { DEFAULT_LAB, validateLabName } from './names.js';
import { readLabState } from './state.js';

/**
 * The agent socket of a lab's node (its first node by default), for agent
 * commands run with `--lab NAME`. Throws ENOTFOUND when the lab is not up.
 */
export function resolveAgentSocket(labName: string = process.env['MEMBRANE_LAB'] ?? DEFAULT_LAB, node?: string): string {
  const state = readLabState(validateLabName(labName));
  const nodes = state?.nodes ?? [];
  if (nodes.length === 0) throw new MembraneError('ENOTFOUND', `lab ${labName} is not up: run "membrane lab up --lab ${labName}"`);
  const n = node === undefined ? nodes[0] : nodes.find((x) => x.name === node);
  if (!n) throw new MembraneError('ENOTFOUND', `lab ${labName} has no node ${node}; its nodes: ${nodes.map((x) => x.name).join(', ')}`);
  return n.socket;
}
