export * from './docker.js';
export { claimIndex, indexClaimsDir, releaseIndex } from './index-claim.js';
export {
  MinirsContainer,
  type MinirsCredentials,
  type MinirsEndpoint,
  StartedMinirsContainer,
} from './minirs-container.js';
