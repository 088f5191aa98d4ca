import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'minirs-logger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createLogger with a file', () => {
  // A process that logs and exits at once used to exit 1: pino's exit hook called flushSync on a
  // file whose asynchronous open had not finished ("sonic boom is not ready yet").
  it('lets a process log and exit at once with code 0, the line on disk, secrets masked', async () => {
    const file = join(dir, 'nested', 'p.log');
    const script = `
      import { createLogger } from ${JSON.stringify(DIST)};
      const log = createLogger({ name: 'proxy-1', file: ${JSON.stringify(file)} });
      process.on('uncaughtException', (e) => { process.stderr.write(String(e)); process.exit(1); });
      log.info({ uri: 'redis://:s3cret@127.0.0.1:6379' }, 'bye');
      process.exit(0);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code] = await once(child, 'exit');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as { msg: string; name: string; uri: string };
    expect(line).toMatchObject({ msg: 'bye', name: 'proxy-1' });
    expect(line.uri).not.toContain('s3cret');
  });
});
