import { describe, expect, it } from 'vitest';
import { Fifo } from '../src/index.js';

describe('Fifo', () => {
  it('keeps order across the compaction of its head', () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 5000; i++) {
      q.push(i);
      if (i % 3 === 2) out.push(q.shift()!, q.shift()!);
    }
    expect(q.length).toBe(5000 - out.length);
    expect(q.peek()).toBe(out.length);
    expect(q.at(1)).toBe(out.length + 1);
    out.push(...q.drain());
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });
});
