import { Command, Flags, type Interfaces } from '@oclif/core';
import { ExitCode, FerryError, toFerryError, usageError } from './core/errors.js';
import type { Reporter, RunContext } from './core/context.js';
import { errorEnvelope, formatError, printJson, successEnvelope, writeStderr, writeStdout } from './ui/output.js';
import { redact } from './infra/redact.js';

/**
 * Every ferry command: parses, calls one service, returns a typed result. This class owns the output
 * contract: with --json exactly one envelope on stdout; otherwise the command's plain result on
 * stdout and everything else on stderr. Errors become a code, a message and next steps, with the
 * stack only under --debug.
 */
export abstract class FerryCommand<R> extends Command {
  static override enableJsonFlag = false;

  static override baseFlags = {
    json: Flags.boolean({ description: 'Print exactly one JSON object on stdout: {status, result, warnings} or {status, error}.' }),
    debug: Flags.boolean({ description: 'Show debug detail and stack traces (credentials are still redacted).', env: 'FERRY_DEBUG' }),
  };

  protected readonly warnings: string[] = [];

  /** Parse flags and do the work. */
  protected abstract exec(): Promise<R>;
  /** The plain stdout text for a person or a shell script ("" for none). */
  protected abstract human(result: R): string;
  /**
   * The exit status of a successful command: 0, except for commands that run an image, which exit
   * with the run's own exit code (also the envelope's `status`).
   */
  protected exitStatus(_result: R): number {
    return 0;
  }

  private flagBefore(name: string): boolean {
    const end = this.argv.indexOf('--');
    const args = end === -1 ? this.argv : this.argv.slice(0, end);
    return args.includes(name);
  }

  protected get jsonMode(): boolean {
    return this.flagBefore('--json');
  }

  protected get debugMode(): boolean {
    return this.flagBefore('--debug') || ['1', 'true'].includes(process.env['FERRY_DEBUG'] ?? '');
  }

  protected context(): RunContext {
    const debug = this.debugMode;
    const reporter: Reporter = {
      info: (m) => {
        writeStderr(m + '\n');
      },
      warn: (m) => {
        this.warnings.push(redact(m));
        writeStderr(`Warning: ${m}\n`);
      },
      debug: (m) => {
        if (debug) writeStderr(`debug: ${m}\n`);
      },
    };
    return { reporter, env: process.env, cwd: process.cwd() };
  }

  public async run(): Promise<void> {
    try {
      const result = await this.exec();
      const status = this.exitStatus(result);
      if (this.jsonMode) {
        printJson({ ...successEnvelope(result, this.warnings), status });
      } else {
        const text = this.human(result);
        if (text !== '') writeStdout(text.endsWith('\n') ? text : text + '\n');
      }
      if (status !== 0) process.exitCode = status;
    } catch (e) {
      const err = fromOclifError(e);
      if (this.jsonMode) printJson(errorEnvelope(err));
      else writeStderr(formatError(err, this.debugMode));
      process.exitCode = err.exitCode;
    }
  }
}

/** oclif's parser errors (unknown flag, missing arg) are usage errors: exit 64 with our envelope. */
export function fromOclifError(e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  if (e instanceof Error && 'oclif' in e) {
    const msg = (e.message.split('\n')[0] ?? e.message).replace(/^Error: /, '');
    const flag = /^Nonexistent flags?: (\S+)/.exec(msg);
    const code = flag ? 'USAGE_UNKNOWN_FLAG' : /^Missing required flag/.test(msg) ? 'USAGE_MISSING_FLAG' : /^command .* not found/.test(msg) ? 'USAGE_UNKNOWN_COMMAND' : 'USAGE';
    return usageError(code, msg, {
      cause: e,
      ...(flag?.[1] !== undefined ? { where: flag[1] } : {}),
      suggestions: ['see `ferry --help` or `ferry COMMAND --help`'],
    });
  }
  return toFerryError(e);
}

export type FlagsOf<T extends typeof Command> = Interfaces.InferredFlags<(typeof FerryCommand)['baseFlags'] & T['flags']>;
export { ExitCode };
