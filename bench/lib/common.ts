/**
 * What every benchmark shares: running a program with its wall time and peak RSS, the statistics we
 * quote (medians, because the machine is shared and noisy), a description of the machine, scratch
 * directories that are always removed, and the results file.
 *
 * Benchmarks are not tests: nothing here asserts on time. A benchmark fails only when a tool fails
 * or an output contract is broken (a push that should upload one layer uploads three), because then
 * the numbers would measure something else.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** The repository root, found from this file so the scripts work from bench/.build or any other outDir. */
export const REPO_ROOT = findRepoRoot(import.meta.dirname);
export const FERRY_BIN = path.join(REPO_ROOT, 'bin', 'run.js');
export const BENCH_DIR = path.join(REPO_ROOT, 'bench');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
/** The Node that runs the benchmarks runs ferry and the bare oclif app too (Node 22 here). */
export const NODE = process.execPath;

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(path.join(dir, 'bin', 'run.js'))) {
      const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'ferry') return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`no ferry checkout above ${from}`);
  }
}

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Running programs

export interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock time of the whole process, spawn to exit. */
  ms: number;
  /** Peak resident set size of the process in KiB, from GNU time (wait4's ru_maxrss). */
  maxRssKb: number;
}

export interface RunOpts {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Run under this umask (through /bin/sh, which then execs the program). */
  umask?: string;
  timeoutMs?: number;
}

const TIME = '/usr/bin/time';

/**
 * Runs a program to completion, measuring its wall time and its peak RSS. GNU time is the parent of
 * the program, so the RSS is the program's own (for node: the ferry process), not the benchmark's.
 */
export async function run(cmd: string, args: readonly string[], opts: RunOpts = {}): Promise<Measured> {
  const rssFile = path.join(os.tmpdir(), `ferry-bench-rss-${randomBytes(6).toString('hex')}`);
  const inner = opts.umask === undefined ? [cmd, ...args] : ['/bin/sh', '-c', `umask ${opts.umask} && exec "$@"`, 'sh', cmd, ...args];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  const started = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%M', '-o', rssFile, ...inner], { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 900_000);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  const ms = performance.now() - started;
  const maxRssKb = await readRss(rssFile);
  return { code, stdout, stderr, ms, maxRssKb };
}

async function readRss(file: string): Promise<number> {
  try {
    // GNU time writes "Command exited with non-zero status N" before the value when the program fails.
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    return Number(lines[lines.length - 1]);
  } finally {
    await rm(file, { force: true });
  }
}

/** run(), failing the benchmark when the program fails: its numbers would mean nothing. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOpts = {}): Promise<Measured> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
  return r;
}

function tail(s: string, n = 4000): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

/** The built CLI, run as a user runs it: node bin/run.js … */
export function ferry(args: readonly string[], opts: RunOpts = {}): Promise<Measured> {
  return run(NODE, [FERRY_BIN, ...args], opts);
}

interface Envelope {
  status: number;
  result?: unknown;
  error?: { code: string; message: string };
}

/** `ferry … --json` that must succeed: its result object. */
async function ferryJson(args: readonly string[], opts: RunOpts): Promise<{ result: Record<string, unknown>; run: Measured }> {
  const r = await ferry([...args, '--json'], opts);
  let env: Envelope | undefined;
  try {
    env = JSON.parse(r.stdout.trim()) as Envelope;
  } catch {
    env = undefined;
  }
  if (r.code !== 0 || env?.status !== 0 || typeof env.result !== 'object' || env.result === null) {
    throw new Error(`ferry ${args.join(' ')} --json exited ${r.code}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
  }
  return { result: env.result as Record<string, unknown>, run: r };
}

/** `ferry build … --json`, which must succeed. */
export async function ferryBuild(args: readonly string[], opts: RunOpts = {}): Promise<{ result: FerryBuildResult; run: Measured }> {
  const { result, run } = await ferryJson(['build', ...args], opts);
  if (typeof result['digest'] !== 'string' || !Array.isArray(result['layers'])) throw new Error(`not a build result: ${JSON.stringify(result)}`);
  return { result: result as unknown as FerryBuildResult, run };
}

/** `ferry push … --json`, which must succeed. */
export async function ferryPush(args: readonly string[], opts: RunOpts = {}): Promise<{ result: FerryPushResult; run: Measured }> {
  const { result, run } = await ferryJson(['push', ...args], opts);
  if (typeof result['digest'] !== 'string' || typeof result['blobs'] !== 'object' || typeof result['requests'] !== 'number') {
    throw new Error(`not a push result: ${JSON.stringify(result)}`);
  }
  return { result: result as unknown as FerryPushResult, run };
}

/** The parts of ferry's --json results the benchmarks read (see src/services/{build,push}.ts). */
export interface FerryLayer {
  digest: string;
  size: number;
  source: 'base' | 'build';
  reused: boolean;
}
export interface FerryBuildResult {
  digest: string;
  layers: FerryLayer[];
}
export interface FerryPushResult {
  image: string;
  digest: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
  bytesUploaded: number;
  requests: number;
  layers: FerryLayer[];
}

// ---------------------------------------------------------------------------------------------
// Statistics

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export function summarize(xs: readonly number[], digits = 1): Summary {
  const r = (x: number): number => Number(x.toFixed(digits));
  return { n: xs.length, median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), values: xs.map(r) };
}

/** a/b, two decimals. */
export function ratio(a: number, b: number): number {
  return Number((a / b).toFixed(2));
}

/** Runs per benchmark: the default, or BENCH_RUNS (for a quick smoke run, or more samples). */
export function runsFor(defaultRuns: number): number {
  const v = process.env['BENCH_RUNS'];
  if (v === undefined || v === '') return defaultRuns;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_RUNS=${v} is not a positive integer`);
  return n;
}

export function ms(x: number): string {
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`;
}

export function mib(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MiB`;
}

// ---------------------------------------------------------------------------------------------
// The machine

export interface MachineInfo {
  nproc: number;
  cpu: string;
  memTotalMiB: number;
  kernel: string;
  node: string;
  buildah: string;
  skopeo: string;
  kubectl: string;
  hyperfine: string;
  registry: string;
  loadAvgAtStart: number[];
  /** The checkout measured: HEAD, and whether src/ had uncommitted changes. */
  ferryCommit: string;
  /** The newest file time in dist/: the build of ferry that was measured. */
  distBuiltAt: string;
}

async function versionOf(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, args);
    return (r.stdout + r.stderr).trim().split('\n')[0] ?? '';
  } catch {
    return 'not installed';
  }
}

async function commitOf(): Promise<string> {
  const head = await run('git', ['rev-parse', '--short', 'HEAD']);
  if (head.code !== 0) return 'unknown (not a git checkout)';
  const dirty = await run('git', ['status', '--porcelain', '--', 'src']);
  return `${head.stdout.trim()}${dirty.stdout.trim() === '' ? '' : ' + uncommitted changes in src/'}`;
}

/** Newest mtime under dist/, so a rebuild of ferry in the middle of a benchmark can be seen. */
export async function distBuiltAt(): Promise<string> {
  let newest = 0;
  try {
    for (const e of await readdir(path.join(REPO_ROOT, 'dist'), { withFileTypes: true, recursive: true })) {
      if (e.isFile()) newest = Math.max(newest, (await stat(path.join(e.parentPath, e.name))).mtimeMs);
    }
  } catch {
    return 'missing';
  }
  return new Date(newest).toISOString();
}

export async function machine(): Promise<MachineInfo> {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memTotalMiB: Math.round(os.totalmem() / 1024 / 1024),
    kernel: os.release(),
    node: process.version,
    buildah: await versionOf('buildah', ['--version']),
    skopeo: await versionOf('skopeo', ['--version']),
    kubectl: await versionOf('kubectl', ['version', '--client']),
    hyperfine: await versionOf('hyperfine', ['--version']),
    registry: await versionOf('docker-registry', ['--version']),
    loadAvgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
    ferryCommit: await commitOf(),
    distBuiltAt: await distBuiltAt(),
  };
}

export function machineLine(m: MachineInfo): string {
  return (
    `${m.nproc} CPUs (${m.cpu}), ${(m.memTotalMiB / 1024).toFixed(1)} GiB RAM, Linux ${m.kernel}, load average at start ${m.loadAvgAtStart.join(' / ')}; ` +
    `node ${m.node}, ${m.buildah}, ${m.skopeo}, kubectl ${m.kubectl.replace(/^Client Version: /, '')}, ${m.registry}; ferry at ${m.ferryCommit}, dist/ built ${m.distBuiltAt}`
  );
}

// ---------------------------------------------------------------------------------------------
// Results

export interface BenchResult {
  name: string;
  title: string;
  goal: string;
  /** Whether the goal was met on this run (null when the benchmark has no pass/miss goal). */
  goalMet: boolean | null;
  date: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  method: string[];
  data: Record<string, unknown>;
  /** The table for bench/README.md (spliced in by bench/report.ts). */
  markdown: string;
}

export async function writeResult(r: BenchResult): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const now = await distBuiltAt();
  if (now !== r.machine.distBuiltAt) {
    // Someone rebuilt ferry while we measured it: the numbers mix two builds.
    const warning = `dist/ changed during this run (built ${r.machine.distBuiltAt} at the start, ${now} at the end): the numbers may mix two builds of ferry`;
    log(`WARNING: ${warning}`);
    r.markdown = `**Warning: ${warning}.**\n\n${r.markdown}`;
    r.data['warning'] = warning;
  }
  const file = path.join(RESULTS_DIR, `${r.name}.json`);
  await writeFile(file, JSON.stringify(r, null, 2) + '\n');
  log(`wrote ${path.relative(REPO_ROOT, file)}`);
  return file;
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Scratch space and clean-up

/**
 * Temporary directories and stop functions, undone in reverse order however the benchmark ends
 * (success, failure, Ctrl-C).
 */
export class Cleanup {
  #steps: (() => Promise<void>)[] = [];
  #done = false;

  add(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `ferry-bench-${prefix}-`));
    this.add(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async run(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (e) {
        log(`clean-up step failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

/**
 * The body of every benchmark script: a Cleanup that always runs, Ctrl-C included, and a non-zero
 * exit when the benchmark could not be measured.
 */
export async function benchMain(name: string, body: (c: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  // Everything temporary (ours, the test helpers', ferry's and buildah's) lands under one directory
  // that goes at the end, so a failed or interrupted run leaves nothing behind in /tmp.
  const scratch = await mkdtemp(path.join(os.tmpdir(), `ferry-bench-${name}-`));
  cleanup.add(() => rm(scratch, { recursive: true, force: true }));
  process.env['TMPDIR'] = scratch;
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body(cleanup);
  } catch (e) {
    log(`${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}

/** Writes `bytes` random bytes to a file in 4 MiB pieces (never the whole file in memory). */
export async function randomFile(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const piece = 4 * 1024 * 1024;
    for (let left = bytes; left > 0; left -= piece) await fh.write(randomBytes(Math.min(piece, left)));
  } finally {
    await fh.close();
  }
}

export function elapsedS(startedMs: number): number {
  return Number(((performance.now() - startedMs) / 1000).toFixed(1));
}
