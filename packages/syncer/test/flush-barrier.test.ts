import { describe, expect, it } from 'vitest';
import { FlushBarrier } from '../src/flush-barrier.js';

describe('FlushBarrier', () => {
  it('sends once, when the last link arrives, and releases every link after the send', async () => {
    const b = new FlushBarrier();
    b.links = 3;
    const sent: number[] = [];
    const done: number[] = [];
    const arrive = (n: number) =>
      b
        .arrive(async () => {
          sent.push(n);
        })
        .then(() => done.push(n));
    const p1 = arrive(1);
    const p2 = arrive(2);
    await Promise.resolve();
    expect(sent).toEqual([]);
    expect(b.arrived).toBe(2);
    const p3 = arrive(3);
    await Promise.all([p1, p2, p3]);
    expect(sent).toEqual([3]);
    expect(done.sort()).toEqual([1, 2, 3]);
    expect(b.arrived).toBe(0);
  });

  it('one link passes straight through', async () => {
    const b = new FlushBarrier();
    let sent = 0;
    await b.arrive(async () => {
      sent++;
    });
    expect(sent).toBe(1);
  });

  it('abort releases the waiting links with an error and refuses new arrivals', async () => {
    const b = new FlushBarrier();
    b.links = 2;
    const waiting = b.arrive(async () => {});
    b.abort();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(b.arrive(async () => {})).rejects.toThrow(/closed/);
  });

  it('a failed send fails every waiting link', async () => {
    const b = new FlushBarrier();
    b.links = 2;
    const first = b.arrive(async () => {});
    const second = b.arrive(async () => {
      throw new Error('destination gone');
    });
    await expect(first).rejects.toThrow('destination gone');
    await expect(second).rejects.toThrow('destination gone');
  });
});
