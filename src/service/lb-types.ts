/** The datapath's load-balancer types, as the service registry writes them (src/datapath/lb.ts). */
export type { LbBackend, LbFrontend, RealizedFrontend } from '../datapath/lb.js';
