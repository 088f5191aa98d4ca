/** A small Prometheus text-format (0.0.4) writer: families with HELP and TYPE, escaped labels. */
export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

export class PromText {
  private readonly families = new Map<string, { help: string; type: string; samples: string[] }>();

  family(name: string, type: 'gauge' | 'counter', help: string): void {
    if (!this.families.has(name)) this.families.set(name, { help, type, samples: [] });
  }

  add(name: string, labels: Labels, value: number): void {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} has no family; declare it first`);
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    f.samples.push(`${name}${l ? `{${l}}` : ''} ${fmt(value)}`);
  }

  toString(): string {
    let out = '';
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${f.type}\n`;
      for (const s of f.samples) out += `${s}\n`;
    }
    return out;
  }
}

export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
