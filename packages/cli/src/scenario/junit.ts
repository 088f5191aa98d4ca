import type { ScenarioResult } from './runner.js';

/** JUnit XML (the Jenkins/GitLab flavour): one testsuite per scenario, one testcase per step. */

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // XML 1.0 has no place for most control characters.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function junitXml(results: ScenarioResult[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const total = results.reduce((n, r) => n + Math.max(1, r.steps.length), 0);
  const failures = results.reduce((n, r) => n + r.steps.filter((s) => s.status === 'failed').length, 0);
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  lines.push(`<testsuites name="minirs scenarios" tests="${total}" failures="${failures}" time="${secs(results.reduce((n, r) => n + r.ms, 0))}">`);
  for (const r of results) {
    const f = r.steps.filter((s) => s.status === 'failed').length;
    const sk = r.status === 'skipped' ? 1 : r.steps.filter((s) => s.status === 'skipped').length;
    lines.push(
      `  <testsuite name="${esc(r.name)}" file="${esc(r.file)}" tests="${Math.max(1, r.steps.length)}" failures="${f}" skipped="${sk}" time="${secs(r.ms)}">`,
    );
    if (r.status === 'skipped') {
      lines.push(`    <testcase name="${esc(r.name)}" classname="${esc(r.name)}" time="0"><skipped message="${esc(r.skipReason ?? '')}"/></testcase>`);
    }
    for (const s of r.steps) {
      const name = `${String(s.index + 1).padStart(2, '0')} ${s.label}`;
      const open = `    <testcase name="${esc(name)}" classname="${esc(r.name)}" time="${secs(s.ms)}"`;
      if (s.status === 'passed') lines.push(`${open}/>`);
      else if (s.status === 'skipped') lines.push(`${open}><skipped message="an earlier step failed"/></testcase>`);
      else lines.push(`${open}><failure message="${esc(s.error ?? 'failed')}">${esc(s.error ?? '')}</failure></testcase>`);
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
