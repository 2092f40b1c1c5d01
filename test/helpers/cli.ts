import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPO_ROOT, 'bin', 'run.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string;
  timeoutMs?: number;
}

/**
 * Where runs' handles go unless a test names its own FERRY_STATE_DIR: never the user's
 * ~/.local/state/ferry (one folder per test process, under the system temporary folder).
 */
const TEST_STATE_DIR = path.join(os.tmpdir(), `ferry-test-state-${String(process.pid)}`);

/** Runs the built CLI (bin/run.js → dist/) as a user would, in a child process. */
export function ferry(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    const merged: Record<string, string | undefined> = { FERRY_STATE_DIR: TEST_STATE_DIR, ...process.env, ...opts.env };
    for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/**
 * Runs the built CLI, sends SIGINT once its stderr matches `ready` (the run is being waited for),
 * and returns what it printed and its exit code: for Ctrl-C tests.
 */
export async function ferryThenInterrupt(args: string[], ready: RegExp, opts: Omit<CliOptions, 'stdin'> = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  const merged: Record<string, string | undefined> = { FERRY_STATE_DIR: TEST_STATE_DIR, ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const waiting = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (ready.test(stderr)) resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const guard = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 150_000);
  await Promise.race([waiting, exited]);
  child.kill('SIGINT');
  const code = await exited;
  clearTimeout(guard);
  return { code: code ?? -1, stdout, stderr };
}

/** The --json envelope on stdout; fails the test if stdout is not exactly one JSON object. */
export interface Envelope<T> {
  status: number;
  result?: T;
  warnings?: string[];
  error?: { code: string; message: string; suggestions: string[]; where?: string };
}

export function envelope<T = Record<string, unknown>>(r: CliResult): Envelope<T> {
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line of JSON on stdout, got ${lines.length}:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return JSON.parse(lines[0] ?? '') as Envelope<T>;
}
