/**
 * @minirs/harness: test, bench and demo support (private; never in the image).
 *
 * This entry re-exports @minirs/local (MiniCluster, RedisServer, compare, waitFor, the demo
 * dataset, the cluster client), which is what the CLI runs, and adds what only tests and benches
 * use: the chunking helpers, the RDB fixtures and the test homes. It loads no test framework and
 * no container engine client:
 *   - `@minirs/harness/vitest`: assertion helpers of the end-to-end files (they use vitest's expect)
 *   - `@minirs/harness/containers`: the testcontainers module (MinirsContainer) and Docker readiness
 *   - `@minirs/harness/browser`: headless Chromium for the web UI tests
 */

export * from '@minirs/local';
export * from './chunks.js';
export * from './fixtures.js';
export * from './test-home.js';
