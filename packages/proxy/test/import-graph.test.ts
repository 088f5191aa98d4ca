import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The proxy's source files must not import each other in a circle (issue 14): command handlers
 * depend on the narrow Session interface, never on the session class or the endpoint. The graph
 * is read from the import/export lines of src/**\/*.ts (type-only imports count: a circle of
 * types is still a circle of knowledge).
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of `import ... from './x.js'`, `export ... from './x.js'` and `import './x.js'`. */
export function relativeImports(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?(?:\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

export function importGraph(files: string[], read: (f: string) => string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps = relativeImports(read(f)).map((s) => resolve(dirname(f), s.replace(/\.js$/, '.ts')));
    graph.set(
      f,
      deps.filter((d) => files.includes(d)),
    );
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import graph of packages/proxy/src', () => {
  it('the checker finds a circle when there is one', () => {
    const texts: Record<string, string> = {
      '/s/a.ts': "import { b } from './b.js';",
      '/s/b.ts': "import type {\n  C,\n} from './sub/c.js';",
      '/s/sub/c.ts': "export { a } from '../a.js';\nimport './d.js';",
      '/s/sub/d.ts': "import { x } from '@minirs/resp';",
    };
    const g = importGraph(Object.keys(texts), (f) => texts[f]!);
    expect(cycles(g)).toEqual([['/s/a.ts', '/s/b.ts', '/s/sub/c.ts']]);
  });

  it('has no circle', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(20);
    const g = importGraph(files, (f) => readFileSync(f, 'utf8'));
    const edges = [...g.values()].reduce((n, d) => n + d.length, 0);
    expect(edges).toBeGreaterThan(40);
    const named = cycles(g).map((scc) => scc.map((f) => relative(SRC, f)));
    expect(named).toEqual([]);
  });

  it('command handlers know the session only through session.ts', () => {
    const files = sourceFiles(SRC);
    const g = importGraph(files, (f) => readFileSync(f, 'utf8'));
    const above = new Set(
      ['client-session.ts', 'endpoint.ts', 'proxy-process.ts', 'main.ts', 'index.ts'].map((f) =>
        join(SRC, f),
      ),
    );
    const wrong: string[] = [];
    for (const [f, deps] of g) {
      if (!f.startsWith(join(SRC, 'commands'))) continue;
      for (const d of deps) if (above.has(d)) wrong.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
    }
    expect(files.some((f) => f.startsWith(join(SRC, 'commands')))).toBe(true);
    expect(wrong).toEqual([]);
  });
});
