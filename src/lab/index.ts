/**
 * The lab: a whole cluster on one machine. Others use `registerLabCommands`
 * (the CLI), `resolveAgentSocket` (`membrane --lab NAME <agent command>`),
 * `labNodeSocket` and `Lab` (tests, the demo).
 */
export { registerLabCommands, selectedLab } from './commands.js';
export { Lab, type LabStatus, type PodView } from './lab.js';
export { labNodeSocket, nodeName, DEFAULT_LAB, LAB_ROOT } from './names.js';
export { parseManifests, type LabObject } from './manifest.js';
export { resolveAgentSocket } from './socket.js';
export { repoRoot, defaultToolchain, type LabToolchain } from './toolchain.js';
