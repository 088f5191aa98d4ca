/**
 * @minirs/local: local minirs clusters and real redis-servers, at runtime. What the CLI's
 * commands, `minirs demo`, `minirs scenario` and `minirs check` run (so it ships in the image),
 * and what @minirs/harness re-exports for tests and benches. No test framework, no container
 * engine client.
 */

export * from './api-client.js';
export * from './cluster-connection.js';
export * from './cluster-files.js';
export * from './cluster-lifecycle.js';
export * from './compare.js';
export { compareDatabases as compare } from './compare.js';
export * from './dataset.js';
export * from './faults.js';
export * from './manager-launcher.js';
export * from './mini-cluster.js';
export * from './processes.js';
export * from './redis-server.js';
export * from './replica-status.js';
export * from './source-uri.js';
export * from './usage-error.js';
export * from './wait-for.js';
// The one free-port helper (a port the OS reports free on a loopback address).
export { freePort } from '@minirs/common';
