import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pidAlive, pidCmdline, procState } from '../src/proc.js';

async function stop(child: ReturnType<typeof spawn>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('process table', () => {
  it('a running, a stopped and a gone process', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    try {
      expect(pidAlive(pid)).toBe(true);
      expect(pidCmdline(pid)).toBe('sleep 30');
      expect(procState(pid)).toMatch(/^[RS]$/);
      process.kill(pid, 'SIGSTOP');
      await expect.poll(() => procState(pid)).toBe('T');
      expect(pidAlive(pid)).toBe(true);
      process.kill(pid, 'SIGCONT');
    } finally {
      await stop(child);
    }
    await expect.poll(() => procState(pid)).toBeUndefined();
    expect(pidAlive(pid)).toBe(false);
    expect(pidCmdline(pid)).toBe('');
  });

  it('a zombie answers kill(0) but is not alive', async () => {
    // sh starts a child that exits at once, then becomes `sleep`, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const pid = Number(line.toString().trim());
      await expect.poll(() => procState(pid)).toBe('Z');
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(pidAlive(pid)).toBe(false);
    } finally {
      await stop(parent);
    }
  });
});
