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
