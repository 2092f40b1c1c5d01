/**
 * `ferry deploy --invoke [--payload FILE|-]`: after a deploy is ready, call what was deployed once
 * (a Lambda function) and print its answer. The payload is read and checked before the build and
 * any AWS call, so a bad file costs nothing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { RunContext } from '../core/context.js';
import { type FerryError, usageError } from '../core/errors.js';
import type { Handle } from '../core/target.js';
import { redact } from '../infra/redact.js';
import type { InvokeResult, RemoteAdapter } from '../targets/index.js';

export interface InvokeOptions {
  /** --invoke */
  invoke?: boolean | undefined;
  /** --payload: a JSON file, or "-" for stdin. */
  payloadFile?: string | undefined;
  /** --password-stdin takes stdin too. */
  passwordStdin?: boolean;
}

/** Lambda's limit for a synchronous invocation's request payload. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** --invoke on a kind that cannot be invoked (local, aws-batch): a usage error naming the kind. */
export function refuseInvoke(opts: InvokeOptions, target: string, type: string, adapter?: RemoteAdapter): void {
  if (opts.invoke === true && adapter?.invoke === undefined) {
    throw usageError('USAGE_INVOKE_UNSUPPORTED', `--invoke calls a deployed function, and target ${target} is type ${type}, which has nothing to invoke`, {
      where: '--invoke',
      suggestions: ['drop --invoke (ferry deploy already runs the job and waits for it), or deploy to a type: aws-lambda target', '`ferry targets` lists what each kind can do'],
    });
  }
  if (opts.payloadFile !== undefined && opts.invoke !== true) {
    throw badPayload('--payload is the event for --invoke, which is not given', ['add --invoke, or drop --payload']);
  }
}

function badPayload(message: string, suggestions: string[]): FerryError {
  return usageError('USAGE_BAD_PAYLOAD', message, { where: '--payload', suggestions });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c));
  return Buffer.concat(chunks);
}

/** The --payload bytes, checked as Lambda would (JSON, at most 6 MB); undefined without --payload. */
export async function readPayload(opts: InvokeOptions, ctx: RunContext, stdin: NodeJS.ReadableStream = process.stdin): Promise<Uint8Array | undefined> {
  const file = opts.payloadFile;
  if (file === undefined) return undefined;
  let bytes: Buffer;
  if (file === '-') {
    if (opts.passwordStdin === true) throw badPayload('--payload - and --password-stdin both read stdin', ['write the payload to a file and pass --payload FILE']);
    bytes = await readAll(stdin);
  } else {
    try {
      bytes = await readFile(path.resolve(ctx.cwd, file));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw usageError('USAGE_BAD_PAYLOAD', `--payload ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : `cannot read it (${code ?? String(e)})`}`, {
        where: '--payload',
        cause: e,
        suggestions: ['give a JSON file (a relative path is relative to the current folder), or - to read stdin'],
      });
    }
  }
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) {
    throw badPayload(`--payload ${file} has ${bytes.byteLength} bytes; Lambda takes at most 6 MB for a synchronous invocation`, ['pass a smaller event, e.g. an S3 key to read the data from']);
  }
  try {
    JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw usageError('USAGE_BAD_PAYLOAD', `--payload ${file} is not JSON (${e instanceof Error ? e.message : String(e)}); Lambda takes a JSON event`, {
      where: '--payload',
      cause: e,
      suggestions: ['write the event as JSON, e.g. {"date": "2024-01-01"}'],
    });
  }
  return new Uint8Array(bytes);
}

/** Invoke, print the response on `stdout` and the decoded log tail on stderr; the result for --json. */
export async function invokeDeployed(adapter: RemoteAdapter, handle: Handle, payload: Uint8Array | undefined, stdout: Writable | undefined, ctx: RunContext): Promise<InvokeResult> {
  if (adapter.invoke === undefined) throw new Error(`the ${adapter.type} adapter cannot invoke`);
  const result = await adapter.invoke(handle, payload, ctx);
  if (result.logTail !== '') {
    ctx.reporter.info('log tail of the invocation:');
    for (const line of result.logTail.replace(/\n$/, '').split('\n')) ctx.reporter.info(`  ${line}`);
  }
  const out = result.response.endsWith('\n') || result.response === '' ? result.response : `${result.response}\n`;
  // The response is the run's output, as a container's stdout is for other targets.
  (stdout ?? process.stdout).write(redact(out));
  return result;
}

/** Why an invocation failed, from the error payload Lambda's runtimes write ({errorType, errorMessage}) when it has one. */
export function invokeFailure(r: InvokeResult): string {
  let what = '';
  try {
    const body = JSON.parse(r.response) as { errorType?: unknown; errorMessage?: unknown };
    const parts = [body.errorType, body.errorMessage].filter((x): x is string => typeof x === 'string');
    what = parts.join(': ');
  } catch {
    // not JSON: the function error alone
  }
  return `the function returned an error (FunctionError ${r.functionError ?? '?'})${what === '' ? '' : `: ${what}`}`;
}
