/**
 * Refreshes bench/README.md from bench/results/*.json: the text between `<!-- bench:NAME -->` and
 * `<!-- /bench:NAME -->` becomes that result's table, and `<!-- bench:summary -->` gets one line per
 * benchmark. The method text around the markers is written by hand and left alone.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR, log, RESULTS_DIR, type BenchResult } from './lib/common.js';

const README = path.join(BENCH_DIR, 'README.md');

function splice(doc: string, name: string, body: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a === -1 || b === -1 || b < a) {
    log(`README.md has no ${open} … ${close} markers; not updated for ${name}`);
    return doc;
  }
  return `${doc.slice(0, a + open.length)}\n${body}\n${doc.slice(b)}`;
}

// Issue 2's order; results of other names (none yet) come after.
const ORDER = ['build-push-150mb', 'repush-unchanged', 'one-file-change', 'rss-1gb', 'reproducible', 'startup', 'hybrid-edit', 'batch-api-calls', 'batch-array-poll', 'k8s-api-calls'];
const rank = (name: string): number => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
const results: BenchResult[] = [];
for (const f of (await readdir(RESULTS_DIR)).filter((x) => x.endsWith('.json'))) {
  results.push(JSON.parse(await readFile(path.join(RESULTS_DIR, f), 'utf8')) as BenchResult);
}
results.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
let doc = await readFile(README, 'utf8');
for (const r of results) {
  doc = splice(doc, r.name, `_Recorded ${r.date.slice(0, 16).replace('T', ' ')} UTC, ${r.durationS} s; reproduce with \`${r.command}\`._\n\n${r.markdown}`);
}
const verdict = (g: boolean | null): string => (g === null ? 'no fixed goal' : g ? 'met' : '**missed**');
doc = splice(
  doc,
  'summary',
  results.map((r) => `- [${r.title}](#${r.name}): goal "${r.goal}": ${verdict(r.goalMet)} (results/${r.name}.json, ${r.date.slice(0, 10)})`).join('\n'),
);
await writeFile(README, doc);
log(`updated ${path.relative(process.cwd(), README)} from ${results.length} result(s)`);
