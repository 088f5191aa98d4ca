/**
 * The manager's heavy modules (fastify, the control plane, the UI), loaded by main.ts with a
 * dynamic import that starts before a create's init: they load while the keys are made on the
 * thread pool and the ports are probed, instead of before any of that starts.
 */
export { buildApi } from './api.js';
export { FaultInjector } from './faults.js';
export { ClusterManager } from './manager.js';
export { killNodeProcesses } from './nodes.js';
export { registerExtraRoutes } from './routes-extra.js';
export { startStatsSampler } from './routes-stats.js';
export { isUiPublicPath, registerUiRoutes } from './ui-routes.js';
