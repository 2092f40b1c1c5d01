/**
 * The single place ferry starts other programs (credential helpers, engines, tools). Keeping it in
 * one place means one answer to: how arguments are passed (never through a shell), how output is
 * bounded, how a missing program is reported, and how a run is stopped.
 */
import { spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { unavailableError, FerryError, ExitCode } from '../core/errors.js';
import { redact } from './redact.js';

export interface RunOptions {
  /** Written to the program's stdin, which is then closed. Without it stdin is closed at once. */
  input?: string | Uint8Array | Readable;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the program (SIGTERM, then SIGKILL) after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Output beyond this many bytes per stream is dropped (the run goes on). Default 16 MiB. */
  maxOutputBytes?: number;
  /** Called with each complete output line as it arrives (engine progress streams through this). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  /** Exit code; null when the program was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the run was stopped by the timeout. */
  timedOut: boolean;
}

/**
 * Runs `command args…` to completion and collects its output. Does not throw for a non-zero exit
 * (callers judge that); throws PROCESS_NOT_FOUND (69) when the program does not exist and
 * PROCESS_FAILED_TO_START otherwise.
 */
export function runProcess(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
        killTimer.unref();
      }, opts.timeoutMs);
      timer.unref();
    }
    const lines = opts.onLine === undefined ? undefined : { stdout: lineSplitter((l) => opts.onLine?.(l, 'stdout')), stderr: lineSplitter((l) => opts.onLine?.(l, 'stderr')) };
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
      lines?.stdout.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b.subarray(0, max - errLen));
      errLen += b.length;
      lines?.stderr.push(b);
    });
    // A program that exits without reading its stdin gives EPIPE; its exit status says what happened.
    child.stdin.on('error', () => undefined);
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(spawnError(command, e));
    });
    child.on('close', (code, signal) => {
      lines?.stdout.end();
      lines?.stderr.end();
      if (timer !== undefined) clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    if (opts.input instanceof Readable) {
      // A stream that fails (a file gone mid-way) stops the program; its exit status reports it.
      opts.input.once('error', () => child.stdin.destroy());
      opts.input.pipe(child.stdin);
    } else if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** A program that could not start: PROCESS_NOT_FOUND (69), PROCESS_ABORTED (75) or PROCESS_FAILED_TO_START (69). */
function spawnError(command: string, e: NodeJS.ErrnoException): FerryError {
  if (e.code === 'ENOENT') {
    return unavailableError('PROCESS_NOT_FOUND', `program "${command}" was not found on PATH`, {
      cause: e,
      details: { command },
      suggestions: [`install ${command}, or check PATH`],
    });
  }
  if (e.name === 'AbortError') return new FerryError('PROCESS_ABORTED', `"${command}" was stopped`, { cause: e, exitCode: ExitCode.TEMPFAIL });
  return unavailableError('PROCESS_FAILED_TO_START', `could not start "${command}": ${e.message}`, { cause: e, details: { command } });
}

/** Cuts a byte stream into lines (without their \n or \r\n); `end` flushes a last partial line. */
export function lineSplitter(onLine: (line: string) => void): { push(b: Buffer): void; end(): void } {
  let pending = '';
  const decoder = new TextDecoder('utf-8');
  const emit = (text: string): void => {
    const parts = (pending + text).split('\n');
    pending = parts.pop() ?? '';
    for (const p of parts) onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
  };
  return {
    push: (b) => { emit(decoder.decode(b, { stream: true })); },
    end: () => {
      emit(decoder.decode());
      if (pending !== '') onLine(pending);
      pending = '';
    },
  };
}

/** Like runProcess, but a non-zero exit becomes PROCESS_FAILED with the (redacted) stderr tail. */
export async function runChecked(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runProcess(command, args, opts);
  if (r.code !== 0) {
    const tail = redact(r.stderr.trim().split('\n').slice(-5).join('\n'));
    throw new FerryError(
      'PROCESS_FAILED',
      `${command} ${r.timedOut ? 'timed out' : `exited with ${r.code ?? r.signal ?? 'unknown'}`}${tail === '' ? '' : `: ${tail}`}`,
      { exitCode: ExitCode.SOFTWARE, details: { command, exitCode: r.code, timedOut: r.timedOut } },
    );
  }
  return r;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the program's stdout and stderr go as they come (a container's output, streamed). */
  stdout: Writable;
  stderr: Writable;
  /** Also keep the last this-many bytes of stderr, for an error message (default 8 KiB). */
  keepStderrBytes?: number;
}

export interface StartedProcess {
  pid: number | undefined;
  /** Resolves when the program has exited and its output has been written on. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `command args…` with its output streamed to the given writers (not collected), for
 * programs whose output is the user's, such as `podman start --attach`. stdin is closed. Rejects
 * `done` with PROCESS_NOT_FOUND / PROCESS_FAILED_TO_START as runProcess does.
 */
export function startProcess(command: string, args: readonly string[], opts: StartOptions): StartedProcess {
  const keep = opts.keepStderrBytes ?? 8192;
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = Buffer.alloc(0);
  child.stdout.pipe(opts.stdout, { end: false });
  child.stderr.on('data', (b: Buffer) => {
    opts.stderr.write(b);
    tail = Buffer.concat([tail, b]);
    if (tail.length > keep) tail = tail.subarray(tail.length - keep);
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(spawnError(command, e));
    });
    child.on('close', (code, signal) => {
      resolve({ code, signal, stderrTail: redact(tail.toString('utf8')) });
    });
  });
  return {
    pid: child.pid,
    done,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
