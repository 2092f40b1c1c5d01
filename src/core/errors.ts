/**
 * Errors users see. Every failure ferry reports carries a stable code (asserted by tests and by
 * scripts), a sysexits-style exit code, the place it concerns (file:line, key, flag) when known,
 * and suggestions for the next step. The cause is kept, never stringified away, and is only shown
 * with --debug.
 */

/** sysexits(3)-style exit codes; a failed run later exits with the run's own code instead. */
export const ExitCode = {
  OK: 0,
  USAGE: 64, // bad command line: unknown flag, missing argument
  DATAERR: 65, // bad input data: Dockerfile, image reference, context content
  UNAVAILABLE: 69, // a service or tool ferry needs is not there (registry down, no engine)
  SOFTWARE: 70, // a bug in ferry
  TEMPFAIL: 75, // a temporary failure that persisted after retries
  NOPERM: 77, // authentication or permission refused
  CONFIG: 78, // ferry.yaml or other configuration is wrong
  INTERRUPTED: 130, // Ctrl-C (SIGINT), as a shell reports it: 128 + 2
  TERMINATED: 143, // SIGTERM: 128 + 15
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorOptions {
  exitCode?: number;
  suggestions?: string[];
  /** Where the problem is: "ferry.yaml:3:5 (image.name)", "Dockerfile:7", "--tag". */
  where?: string;
  cause?: unknown;
  /** Extra machine-readable detail for --json. Never put secrets here. */
  details?: Record<string, unknown>;
}

export class FerryError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly suggestions: string[];
  readonly where: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FerryError';
    this.code = code;
    this.exitCode = opts.exitCode ?? ExitCode.SOFTWARE;
    this.suggestions = opts.suggestions ?? [];
    this.where = opts.where;
    this.details = opts.details;
  }
}

export const usageError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.USAGE });
export const dataError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.DATAERR });
export const configError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.CONFIG });
export const unavailableError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.UNAVAILABLE });
export const tempError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.TEMPFAIL });
export const authError = (code: string, message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}): FerryError =>
  new FerryError(code, message, { ...opts, exitCode: ExitCode.NOPERM });

export const isFerryError = (e: unknown): e is FerryError => e instanceof FerryError;

/** Wrap anything thrown into a FerryError; unknown errors are bugs (70). */
export function toFerryError(e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FerryError('INTERNAL', `unexpected error: ${message}`, {
    exitCode: ExitCode.SOFTWARE,
    cause: e,
    suggestions: ['run again with --debug to see the stack trace, and report it as a bug'],
  });
}

/**
 * Ctrl-C (SIGINT) or SIGTERM arrived before the step that would have created something remote:
 * nothing was created, and ferry exits as a shell would (130, 143).
 */
export const interruptedError = (signal: unknown, what: string): FerryError =>
  new FerryError('INTERRUPTED', `${typeof signal === 'string' ? signal : 'SIGINT'} before ${what}: nothing was started`, {
    exitCode: signal === 'SIGTERM' ? ExitCode.TERMINATED : ExitCode.INTERRUPTED,
    suggestions: ['run the command again when you want it to go ahead'],
  });
