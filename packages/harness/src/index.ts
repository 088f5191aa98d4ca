/**
 * @minirs/harness: local minirs clusters and real redis-servers for tests, benches and the demo.
 * This entry loads no test framework and no container engine client, so the CLI can use it:
 *   - `@minirs/harness/vitest`: assertion helpers of the end-to-end files (they use vitest's expect)
 *   - `@minirs/harness/containers`: the testcontainers module (MinirsContainer) and Docker readiness
 *   - `@minirs/harness/browser`: headless Chromium for the web UI tests
 */

export * from './api-client.js';
export * from './chunks.js';
export * from './cluster-connection.js';
export * from './cluster-files.js';
export * from './cluster-lifecycle.js';
export * from './compare.js';
export { compareDatabases as compare } from './compare.js';
export * from './dataset.js';
export * from './faults.js';
export * from './fixtures.js';
export * from './manager-launcher.js';
export * from './mini-cluster.js';
export * from './processes.js';
export * from './redis-server.js';
export * from './replica-status.js';
export * from './source-uri.js';
export * from './test-home.js';
export * from './usage-error.js';
export * from './wait-for.js';
// The one free-port helper (a port the OS reports free on a loopback address).
export { freePort } from '@minirs/common';
