export { buildApi } from './api.js';
export { initCluster, validateCreate } from './cluster-init.js';
export { ClusterManager, slotRange } from './manager.js';
export { StateStore } from './state-store.js';
