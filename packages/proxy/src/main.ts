import { createLogger, ErrorCodes, MinirsError, type ProxyProcessConfig } from '@minirs/common';
import { ProxyProcess } from './proxy-process.js';

/**
 * Entry point of a proxy process: `node packages/proxy/dist/main.js` with MINIRS_PROC_CONFIG
 * holding a ProxyProcessConfig. Databases arrive later as `config` control messages.
 */
function readConfig(): ProxyProcessConfig {
  const raw = process.env.MINIRS_PROC_CONFIG;
  if (!raw) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      'MINIRS_PROC_CONFIG is not set; the cluster-manager starts proxies',
      {
        field: 'MINIRS_PROC_CONFIG',
      },
    );
  }
  let cfg: ProxyProcessConfig;
  try {
    cfg = JSON.parse(raw) as ProxyProcessConfig;
  } catch (err) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      `MINIRS_PROC_CONFIG is not JSON: ${(err as Error).message}`,
      {
        field: 'MINIRS_PROC_CONFIG',
      },
    );
  }
  for (const field of ['node_uid', 'addr', 'socket'] as const) {
    if (cfg[field] === undefined || cfg[field] === '') {
      throw new MinirsError(ErrorCodes.INVALID_ARGUMENT, `MINIRS_PROC_CONFIG lacks ${field}`, { field });
    }
  }
  return cfg;
}

async function main(): Promise<void> {
  let cfg: ProxyProcessConfig;
  try {
    cfg = readConfig();
  } catch (err) {
    process.stderr.write(`proxy: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger({ name: `proxy-${cfg.node_uid}`, file: cfg.log_file || undefined });
  const proxy = new ProxyProcess(cfg, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    void proxy.shutdown().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  try {
    await proxy.start();
  } catch (err) {
    log.fatal({ err }, 'proxy failed to start');
    process.exit(1);
  }
}

void main();
