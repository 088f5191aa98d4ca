import type { CliIo } from '../context.js';
import { STEPS } from './plan.js';

export class Narrator {
  private readonly t0 = Date.now();
  constructor(private readonly io: CliIo) {}

  get tty(): boolean {
    return this.io.stdout.isTTY === true;
  }
  print(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }
  heading(n: number, text: string): void {
    this.print(`\n== ${n}/${STEPS} ${text} ==`);
  }
  line(text: string): void {
    this.print(`  ${text}`);
  }
  /** Seconds since the demo started, for the timeline. */
  clock(): string {
    return `${((Date.now() - this.t0) / 1000).toFixed(1).padStart(5)}s`;
  }
  elapsedSeconds(): number {
    return (Date.now() - this.t0) / 1000;
  }
}

export const fmt = (n: number) => n.toLocaleString('en-US');
export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
