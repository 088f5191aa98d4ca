export { claimIndex, indexClaimsDir, releaseIndex } from './index-claim.js';
export {
  MinirsContainer,
  type MinirsCredentials,
  type MinirsEndpoint,
  StartedMinirsContainer,
} from './minirs-container.js';
// The local-process harness, until it moves here (its own issue).
export { type CreateDbOptions, MiniCluster, StartedMiniCluster } from '@minirs/cli';
