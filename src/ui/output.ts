import { FerryError } from '../core/errors.js';
import { redact } from '../infra/redact.js';

/**
 * Stdout carries results only (a digest, a pinned reference, or the --json envelope); everything
 * meant for a person goes to stderr.
 */
export interface Envelope<R> {
  status: number;
  result?: R;
  warnings?: string[];
  error?: { code: string; message: string; suggestions: string[]; where?: string; details?: Record<string, unknown> };
}

export function writeStdout(text: string): void {
  process.stdout.write(redact(text));
}

export function writeStderr(text: string): void {
  process.stderr.write(redact(text));
}

export function successEnvelope<R>(result: R, warnings: string[]): Envelope<R> {
  return { status: 0, result, warnings };
}

export function errorEnvelope(err: FerryError): Envelope<never> {
  const error: NonNullable<Envelope<never>['error']> = {
    code: err.code,
    message: err.message,
    suggestions: err.suggestions,
  };
  if (err.where !== undefined) error.where = err.where;
  if (err.details !== undefined) error.details = err.details;
  return { status: err.exitCode, error };
}

export function printJson(value: unknown): void {
  writeStdout(JSON.stringify(value) + '\n');
}

/** The human form of an error, for stderr. The stack and causes only with --debug. */
export function formatError(err: FerryError, debug: boolean): string {
  const lines = [`Error [${err.code}]: ${err.message}`];
  if (err.where !== undefined) lines.push(`  at ${err.where}`);
  for (const s of err.suggestions) lines.push(`  → ${s}`);
  if (debug) {
    let cause: unknown = err;
    let depth = 0;
    while (cause !== undefined && depth < 8) {
      if (cause instanceof Error) {
        lines.push('', depth === 0 ? 'stack:' : 'caused by:', cause.stack ?? cause.message);
        cause = cause.cause;
      } else {
        lines.push('', 'caused by:', typeof cause === 'string' ? cause : JSON.stringify(cause));
        cause = undefined;
      }
      depth++;
    }
  }
  return lines.join('\n') + '\n';
}

export function warn(message: string): void {
  writeStderr(`Warning: ${message}\n`);
}
