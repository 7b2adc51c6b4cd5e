/**
 * Built-in workloads the lab runs in pods in place of container images.
 */
export { registerWorkloadCommands } from './commands.js';
export { createDeathstarServer, listenDeathstar, type ListeningServer } from './deathstar.js';
export { deathstarResponse, DEATHSTAR_INFO, EXHAUST_PORT_BACKTRACE, SHIP_LANDED } from './deathstar-routes.js';
