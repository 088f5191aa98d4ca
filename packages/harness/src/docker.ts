import { freePort } from '@minirs/common';

/**
 * Whether the container tests can run here: a Docker engine that answers, and the images that
 * scripts/docker-engine builds (no registry is reachable, so nothing can be pulled). When not,
 * `reason` is the one line the skipped file prints.
 */
export interface DockerReadiness {
  ok: boolean;
  reason: string;
}

export const MINIRS_IMAGE = process.env.MINIRS_IMAGE ?? 'minirs:dev';
export const REDIS_IMAGE = process.env.MINIRS_REDIS_IMAGE ?? 'minirs-redis:7';

export async function dockerReadiness(images: string[]): Promise<DockerReadiness> {
  // Ryuk (testcontainers' reaper) is an image from a registry; every test stops its own containers.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  // The containers use the host's network: the host is loopback (testcontainers would otherwise
  // look for the gateway of a bridge network, which the CI engine does not create).
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
    for (const image of images) {
      const { ImageName } = await import('testcontainers');
      if (!(await client.image.exists(ImageName.fromString(image)))) {
        return {
          ok: false,
          reason: `image ${image} is not in the engine's store; build it with \`scripts/docker-engine images\``,
        };
      }
    }
    return { ok: true, reason: '' };
  } catch (err) {
    return {
      ok: false,
      reason: `no Docker engine answers here (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); scripts/test starts one where it can (root, docker.io installable)`,
    };
  }
}

/** A TCP port free on 127.0.0.1 (containers with --network host listen on the host's loopback). */
export function freeLoopbackPort(): Promise<number> {
  return freePort('127.0.0.1');
}
