/**
 * Benchmark 6: start-up. Median time of `ferry --help` and `ferry --version` (hyperfine) against a
 * bare one-command oclif 5 app built the same way (bench/startup/bare-oclif: explicit command
 * strategy, Node's compile cache, same @oclif/core, same Node) and against `kubectl version
 * --client`. Also which modules ferry loads for them, to catch heavy modules loaded too early.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  BENCH_DIR,
  benchMain,
  elapsedS,
  FERRY_BIN,
  log,
  machine,
  machineLine,
  median,
  NODE,
  ratio,
  REPO_ROOT,
  runOk,
  summarize,
  table,
  writeResult,
  type Summary,
} from './lib/common.js';

const NAME = 'startup';
const GOAL = 1.3;
const BARE_SRC = path.join(BENCH_DIR, 'startup', 'bare-oclif');
// The compiled bare app sits next to this compiled file; oclif finds its root by its package.json.
const BARE = path.join(import.meta.dirname, 'startup', 'bare-oclif');
const TRACE = path.join(import.meta.dirname, 'startup', 'trace-modules.js');
const KUBECTL = '/usr/bin/kubectl';

interface Cmd {
  id: string;
  label: string;
  argv: string[];
  /** What its stdout must contain (a sanity check that it did what we think). */
  expect: string;
}

const commands: Cmd[] = [
  { id: 'node', label: 'node -e 0 (Node itself)', argv: [NODE, '-e', '0'], expect: '' },
  { id: 'ferry-version', label: 'ferry --version', argv: [NODE, FERRY_BIN, '--version'], expect: 'ferry/' },
  { id: 'bare-version', label: 'bare oclif --version', argv: [NODE, path.join(BARE, 'bin', 'run.js'), '--version'], expect: 'bare-oclif/' },
  { id: 'bare-plain-version', label: 'bare oclif --version, no compile cache', argv: [NODE, path.join(BARE, 'bin', 'run-plain.js'), '--version'], expect: 'bare-oclif/' },
  { id: 'ferry-help', label: 'ferry --help', argv: [NODE, FERRY_BIN, '--help'], expect: 'EXIT CODES' },
  { id: 'bare-help', label: 'bare oclif --help', argv: [NODE, path.join(BARE, 'bin', 'run.js'), '--help'], expect: 'hello' },
  { id: 'bare-plain-help', label: 'bare oclif --help, no compile cache', argv: [NODE, path.join(BARE, 'bin', 'run-plain.js'), '--help'], expect: 'hello' },
  { id: 'ferry-help-nocc', label: 'ferry --help, NODE_DISABLE_COMPILE_CACHE=1', argv: ['/usr/bin/env', 'NODE_DISABLE_COMPILE_CACHE=1', NODE, FERRY_BIN, '--help'], expect: 'EXIT CODES' },
  { id: 'kubectl', label: 'kubectl version --client', argv: [KUBECTL, 'version', '--client'], expect: 'Client Version' },
];

interface HyperfineJson {
  results: { command: string; times: number[]; median: number; user: number; system: number }[];
}

const HEAVY_PACKAGES = ['undici', 'zod', 'yaml', 'tar-stream', '@kubernetes/client-node', '@aws-sdk', '@google-cloud'];
// Image, registry, build and cloud code, and the config schema (zod) and loader (yaml); not the
// 1 KB config/suggest.js that error handling uses.
const HEAVY_DIST = /^dist\/(registry|image|builders|services|targets|infra\/http|config\/(schema|loader))\b/;

interface Trace {
  /** Files loaded (built-ins included). */
  total: number;
  builtins: number;
  /** Files of the bare app itself. */
  app: number;
  /** npm package → modules of it loaded, whether as its own files or inside a bundle chunk. */
  packages: Record<string, number>;
  /** ferry's modules loaded (dist/… paths, as tsc emitted them), whether as files or bundled. */
  dist: string[];
  /** dist/ files loaded and their total size: with the esbuild bundle, entry points and chunks. */
  distFiles: number;
  distBytes: number;
  heavy: string[];
}

function packageOf(rel: string): string {
  const parts = rel.split('/');
  return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? '?');
}

/**
 * What a list of loaded files amounts to. dist/ may be tsc's output (one file per module) or an
 * esbuild bundle (scripts/bundle.mjs); esbuild marks each module it inlines with a
 * "// node_modules/…" or "// dist/…" line, which is how a chunk's contents are known.
 */
async function classify(urls: string[]): Promise<Trace> {
  const t: Trace = { total: urls.length, builtins: 0, app: 0, packages: {}, dist: [], distFiles: 0, distBytes: 0, heavy: [] };
  const addPkg = (p: string): void => {
    t.packages[p] = (t.packages[p] ?? 0) + 1;
  };
  const distDir = path.join(REPO_ROOT, 'dist') + path.sep;
  for (const url of urls) {
    if (url.startsWith('node:')) {
      t.builtins++;
      continue;
    }
    const file = url.startsWith('file:') ? fileURLToPath(url) : url;
    const nm = file.lastIndexOf('/node_modules/');
    if (file.startsWith(import.meta.dirname + path.sep)) {
      // the bare app itself (wherever the benchmarks were compiled to)
      t.app++;
    } else if (nm !== -1) {
      addPkg(packageOf(file.slice(nm + '/node_modules/'.length)));
    } else if (file.startsWith(distDir)) {
      const text = await readFile(file, 'utf8');
      t.distFiles++;
      t.distBytes += Buffer.byteLength(text);
      const marks = [...text.matchAll(/^\/\/ (node_modules|dist)\/(\S+)$/gm)];
      if (marks.length === 0) t.dist.push(path.relative(REPO_ROOT, file));
      const seen = new Set<string>();
      for (const [, kind, rest = ''] of marks) {
        if (seen.has(`${kind ?? ''}/${rest}`)) continue;
        seen.add(`${kind ?? ''}/${rest}`);
        if (kind === 'dist') t.dist.push(`dist/${rest}`);
        else addPkg(packageOf(rest));
      }
    }
  }
  t.dist = [...new Set(t.dist)];
  for (const p of Object.keys(t.packages)) if (HEAVY_PACKAGES.some((h) => p === h || p.startsWith(`${h}/`))) t.heavy.push(`${p} (${t.packages[p] ?? 0} modules)`);
  for (const d of t.dist) if (HEAVY_DIST.test(d)) t.heavy.push(d);
  return t;
}

/**
 * ferry and the bare app run in alternation, pair after pair (who goes first alternating too), and
 * the answer is the median of the per-pair ratios. Both runs of a pair meet the same load on the
 * machine, which hyperfine's one-command-after-the-other blocks cannot promise.
 */
function paired(a: string[], b: string[], pairs: number): { ratio: number; aMs: number; bMs: number } {
  const once = (argv: string[]): number => {
    const [bin = '', ...args] = argv;
    const t0 = performance.now();
    const r = spawnSync(bin, args, { cwd: REPO_ROOT, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${String(r.status)}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < 3; i++) {
    once(a);
    once(b);
  }
  const ratios: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let ta: number;
    let tb: number;
    if (i % 2 === 0) {
      ta = once(a);
      tb = once(b);
    } else {
      tb = once(b);
      ta = once(a);
    }
    as.push(ta);
    bs.push(tb);
    ratios.push(ta / tb);
  }
  return { ratio: Number(median(ratios).toFixed(2)), aMs: Number(median(as).toFixed(1)), bMs: Number(median(bs).toFixed(1)) };
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const rounds = Number(process.env['BENCH_STARTUP_ROUNDS'] ?? '3');
  const runsPerRound = Number(process.env['BENCH_STARTUP_RUNS'] ?? '30');
  const m = await machine();
  await copyFile(path.join(BARE_SRC, 'package.json'), path.join(BARE, 'package.json'));
  for (const cmd of commands) {
    if (cmd.argv.some((a) => /\s/.test(a))) throw new Error(`hyperfine -N cannot take a path with spaces: ${cmd.argv.join(' ')}`);
    const [bin = '', ...args] = cmd.argv;
    const r = await runOk(bin, args);
    if (!r.stdout.includes(cmd.expect)) throw new Error(`${cmd.label} printed ${JSON.stringify(r.stdout.slice(0, 200))}, expected ${cmd.expect}`);
  }

  // Several rounds, each starting at a different command, so slow drift in the machine's load
  // does not fall on one command; the median is over all rounds' runs.
  const times = new Map<string, number[]>(commands.map((cmd) => [cmd.id, []]));
  const roundMedians = new Map<string, number[]>(commands.map((cmd) => [cmd.id, []]));
  // CPU time (user + system, hyperfine's mean per round): less sensitive than wall time to other
  // work on a shared machine, though not immune to it.
  const cpu = new Map<string, number[]>(commands.map((cmd) => [cmd.id, []]));
  const dir = await c.tempDir('hyperfine');
  for (let round = 0; round < rounds; round++) {
    const order = [...commands.slice(round % commands.length), ...commands.slice(0, round % commands.length)];
    const out = path.join(dir, `round-${round}.json`);
    const args = ['-N', '--style', 'basic', '--warmup', '3', '--runs', String(runsPerRound), '--export-json', out];
    for (const cmd of order) args.push('-n', cmd.id, cmd.argv.join(' '));
    log(`hyperfine round ${round + 1}/${rounds}`);
    await runOk('hyperfine', args, { cwd: REPO_ROOT, timeoutMs: 900_000 });
    const json = JSON.parse(await readFile(out, 'utf8')) as HyperfineJson;
    for (const [i, res] of json.results.entries()) {
      const id = order[i]?.id ?? '';
      times.get(id)?.push(...res.times.map((s) => s * 1000));
      roundMedians.get(id)?.push(Number((res.median * 1000).toFixed(1)));
      cpu.get(id)?.push((res.user + res.system) * 1000);
    }
    await rm(out);
  }
  const s = new Map<string, Summary>(commands.map((cmd) => [cmd.id, summarize(times.get(cmd.id) ?? [], 1)]));
  const med = (id: string): number => s.get(id)?.median ?? Number.NaN;
  const cpuMs = (id: string): number => Number(median(cpu.get(id) ?? []).toFixed(1));

  // Which modules each start-up loads.
  const traces: Record<string, Trace> = {};
  const traceRuns: [string, string[]][] = [
    ['ferry --version', [FERRY_BIN, '--version']],
    ['ferry --help', [FERRY_BIN, '--help']],
    ['ferry push --help', [FERRY_BIN, 'push', '--help']],
    ['bare --version', [path.join(BARE, 'bin', 'run.js'), '--version']],
    ['bare --help', [path.join(BARE, 'bin', 'run.js'), '--help']],
  ];
  for (const [label, argv] of traceRuns) {
    const file = path.join(dir, `trace-${label.replace(/\W+/g, '-')}.txt`);
    await runOk(NODE, ['--import', TRACE, ...argv], { env: { TRACE_MODULES_OUT: file } });
    traces[label] = await classify((await readFile(file, 'utf8')).trim().split('\n'));
  }

  const pairs = Number(process.env['BENCH_STARTUP_PAIRS'] ?? '40');
  log(`paired runs: ${pairs} pairs each for --version and --help`);
  const argvOf = (id: string): string[] => commands.find((cmd) => cmd.id === id)?.argv ?? [];
  const pv = paired(argvOf('ferry-version'), argvOf('bare-version'), pairs);
  const ph = paired(argvOf('ferry-help'), argvOf('bare-help'), pairs);

  const rHelp = ratio(med('ferry-help'), med('bare-help'));
  const rVersion = ratio(med('ferry-version'), med('bare-version'));
  // Met only when both ways of measuring agree: the machine is too noisy to trust one alone.
  const goalMet = rHelp <= GOAL && rVersion <= GOAL && ph.ratio <= GOAL && pv.ratio <= GOAL;
  const rows = commands.map((cmd) => {
    const x = s.get(cmd.id);
    const vsBare = cmd.id.startsWith('ferry-help') ? ratio(med(cmd.id), med(cmd.id === 'ferry-help' ? 'bare-help' : 'bare-plain-help')) : cmd.id === 'ferry-version' ? rVersion : '';
    const vsKubectl = cmd.id === 'kubectl' ? '' : ratio(med(cmd.id), med('kubectl'));
    return [cmd.label, `${x?.median ?? '?'} ms`, `${x?.min ?? '?'} – ${x?.max ?? '?'}`, (roundMedians.get(cmd.id) ?? []).join(' / '), `${cpuMs(cmd.id)} ms`, vsBare, vsKubectl];
  });
  const traceRows = Object.entries(traces).map(([label, t]) => [
    label,
    t.total,
    t.builtins,
    `${Object.keys(t.packages).length} (${Object.values(t.packages).reduce((a, b) => a + b, 0)} modules)`,
    t.app > 0 ? `${t.app} (bare app)` : `${t.dist.length} in ${t.distFiles} dist/ files, ${(t.distBytes / 1024).toFixed(0)} KiB`,
    t.heavy.length === 0 ? 'none' : t.heavy.join(', '),
  ]);
  const bareHelpPkgs = new Set(Object.keys(traces['bare --help']?.packages ?? {}));
  const extra = Object.keys(traces['ferry --help']?.packages ?? {}).filter((p) => !bareHelpPkgs.has(p));
  const markdown = [
    table(['command', 'median wall', 'min – max', 'median per round', 'CPU (user+sys)', 'ferry / bare oclif', '/ kubectl'], rows),
    '',
    `Goal (ferry within ${GOAL}× of the bare oclif app): hyperfine medians --help ${rHelp}×, --version ${rVersion}×; ` +
      `paired runs (median of ${pairs} per-pair ratios, ferry and bare alternating) --help ${ph.ratio}× (${ph.aMs} vs ${ph.bMs} ms), --version ${pv.ratio}× (${pv.aMs} vs ${pv.bMs} ms): **${goalMet ? 'met' : 'MISSED'}** (met only if both say so). ` +
      `By CPU time: --help ${ratio(cpuMs('ferry-help'), cpuMs('bare-help'))}×, --version ${ratio(cpuMs('ferry-version'), cpuMs('bare-version'))}×. ` +
      `Against kubectl: --help ${ratio(med('ferry-help'), med('kubectl'))}×, --version ${ratio(med('ferry-version'), med('kubectl'))}×. ` +
      `${rounds} hyperfine rounds × ${runsPerRound} runs (+3 warm-ups each), commands rotated between rounds; medians over all ${rounds * runsPerRound} runs.`,
    '',
    'Modules loaded (traced with `node --import bench/.build/bench/startup/trace-modules.js`, module.registerHooks):',
    '',
    table(['run', 'files loaded', 'node: built-ins', 'npm packages (modules)', 'own modules', 'heavy modules loaded'], traceRows),
    '',
    `Packages ferry --help loads that the bare app does not: ${extra.length === 0 ? 'none' : extra.join(', ')}. ` +
      `ferry --help loads: ${Object.entries(traces['ferry --help']?.packages ?? {})
        .map(([p, n]) => `${p} (${n})`)
        .join(', ')}; and from dist/: ${(traces['ferry --help']?.dist ?? []).map((d) => d.replace(/^dist\//, '')).join(', ')}.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Start-up time',
    goal: `ferry --help and --version within ${GOAL}x of a bare one-command oclif app`,
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh startup',
    machine: m,
    method: [
      `hyperfine -N --warmup 3 --runs ${runsPerRound}, ${rounds} rounds with the command order rotated; every command run with the same Node (${NODE}) from the repository root.`,
      `Then paired runs: ferry and the bare app alternately, ${pairs} pairs for --version and for --help (3 warm-up pairs), median of the per-pair ratios. The goal counts as met only when hyperfine's ratio and the paired ratio are both within ${GOAL}x.`,
      'Bare app: bench/startup/bare-oclif, one command (hello), oclif explicit command strategy (as ferry), @oclif/core from the repo, compiled by tsc like ferry; bin/run.js enables the compile cache like ferry\'s bin/run.js, bin/run-plain.js does not (as `oclif generate` makes it).',
      'The compile cache lives in the benchmark\'s TMPDIR (new each run, so the warm-ups fill it).',
      `kubectl: ${KUBECTL} (${m.kubectl}).`,
    ],
    data: {
      rounds,
      runsPerRound,
      summaries: Object.fromEntries([...s.entries()]),
      roundMedians: Object.fromEntries([...roundMedians.entries()]),
      cpuMs: Object.fromEntries(commands.map((cmd) => [cmd.id, cpuMs(cmd.id)])),
      paired: { pairs, help: ph, version: pv },
      ratios: { helpVsBare: rHelp, versionVsBare: rVersion, helpVsBarePaired: ph.ratio, versionVsBarePaired: pv.ratio, helpVsKubectl: ratio(med('ferry-help'), med('kubectl')), versionVsKubectl: ratio(med('ferry-version'), med('kubectl')) },
      traces,
      extraPackagesVsBare: extra,
    },
    markdown,
  });
});
