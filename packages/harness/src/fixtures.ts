import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The RDB fixtures are data that stays outside the repository: `../shared/fixtures` beside the
 * clone (CI has it, a user's clone does not). MINIRS_FIXTURES_DIR points elsewhere (CI points it
 * at an empty folder once to prove that every test using fixtures skips cleanly without them).
 */
export const FIXTURES_ROOT = resolve(
  process.env.MINIRS_FIXTURES_DIR ?? join(import.meta.dirname, '../../../../shared/fixtures'),
);

export interface FixtureSet {
  /** The folder, e.g. <root>/rdb. */
  dir: string;
  available: boolean;
  /** The `.rdb` files in it, sorted; empty when the folder is absent. */
  files: string[];
  /** The reason to show when skipping. */
  skipReason: string;
}

const announced = new Set<string>();

/** One set of fixtures (`rdb`, `rdb-7.4`); prints one line naming the folder when it is absent. */
export function fixtureSet(name: 'rdb' | 'rdb-7.4'): FixtureSet {
  const dir = join(FIXTURES_ROOT, name);
  const available = existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.rdb'));
  const skipReason = `skipped: no RDB fixtures in ${dir} (they live beside the repository in ../shared/fixtures; set MINIRS_FIXTURES_DIR to use another folder)`;
  if (!available && !announced.has(dir)) {
    announced.add(dir);
    console.warn(skipReason);
  }
  const files = available
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.rdb'))
        .sort()
    : [];
  return { dir, available, files, skipReason };
}
