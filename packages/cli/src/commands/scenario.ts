import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { junitXml } from '../scenario/junit.js';
import { runScenario, type ScenarioResult } from '../scenario/runner.js';
import { loadScenario } from '../scenario/scenario.js';

interface ScenarioOptions {
  junit?: string;
  home?: string;
  keep?: boolean;
  json?: boolean;
}

/** Files named on the command line; a folder stands for its *.yaml and *.yml files, sorted. */
function scenarioFiles(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const p = resolve(a);
    let dir = false;
    try {
      dir = statSync(p).isDirectory();
    } catch {
      // loadScenario reports the missing file
    }
    if (dir) out.push(...readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f)));
    else out.push(p);
  }
  return out;
}

export function registerScenarioCommand(program: Command, ctx: CliContext): void {
  const sc = program.command('scenario').description('(minirs) run failure-injection scenarios written in YAML');
  sc.command('run')
    .description('run scenario files (or folders of them): a pass/fail line per step, exit 1 when one fails')
    .argument('<files...>', 'scenario .yaml files or folders')
    .option('--junit <file>', 'also write a JUnit XML report here')
    .option('--home <dir>', 'MINIRS_HOME of the scenario clusters (default: a fresh folder per scenario)')
    .option('--keep', 'keep the clusters (stopped) and their folder for a look')
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nExamples:\n  minirs scenario run scenarios/\n  minirs scenario run scenarios/node-kill.yaml --junit report.xml')
    .action(async (files: string[], o: ScenarioOptions) => {
      // Parse them all first: a typo in the third file should not wait for the first two to run.
      const scenarios = scenarioFiles(files).map((f) => loadScenario(f));
      const results: ScenarioResult[] = [];
      for (const s of scenarios) {
        if (!o.json) ctx.print(`== ${s.name} (${s.file})`);
        const r = await runScenario(s, {
          home: o.home,
          keep: o.keep,
          onStep: (st) => {
            if (o.json) return;
            const mark = st.status === 'passed' ? 'ok  ' : st.status === 'failed' ? 'FAIL' : 'skip';
            ctx.print(`  ${mark} ${st.label} (${st.ms} ms)${st.detail ? `: ${st.detail}` : ''}${st.error ? `\n       ${st.error}` : ''}`);
          },
        });
        results.push(r);
        if (!o.json) {
          ctx.print(
            r.status === 'skipped'
              ? `  SKIPPED: ${r.skipReason}`
              : `  ${r.status === 'passed' ? 'PASSED' : 'FAILED'} in ${(r.ms / 1000).toFixed(1)} s${o.keep ? ` (kept in ${r.home})` : ''}`,
          );
        }
      }
      if (o.junit) writeFileSync(o.junit, junitXml(results));
      const failed = results.filter((r) => r.status === 'failed');
      if (o.json) ctx.json(results);
      else {
        const passed = results.filter((r) => r.status === 'passed').length;
        const skipped = results.filter((r) => r.status === 'skipped').length;
        ctx.print(`${passed} passed, ${failed.length} failed, ${skipped} skipped${o.junit ? `; JUnit XML in ${o.junit}` : ''}`);
      }
      if (failed.length) ctx.exitCode = 1;
    });
}
