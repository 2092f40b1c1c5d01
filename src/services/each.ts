/**
 * `deploy --each KEY=V1,V2,…` and `--each-file KEY=PATH`: one deploy fanned out over values. This
 * file turns the flags into a checked EachSpec (before any build or network call), refuses targets
 * that cannot fan out, and finds out what the target needs to know of the image to hand each child
 * its value.
 *
 * Values are delivered to the container newline-separated (FERRY_EACH_VALUES), so a value may not
 * hold a newline; it may hold anything else (spaces, quotes, `$`, commas from a file).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { RunContext } from '../core/context.js';
import { usageError, type FerryError } from '../core/errors.js';
import type { EachInput, EachSpec, FailedChild, RunStatus } from '../core/target.js';
import { TARGET_KINDS } from '../targets/index.js';

/** The raw flag values, as the commands pass them on. */
export interface EachFlags {
  each?: string[] | undefined;
  eachFile?: string[] | undefined;
}

/** AWS Batch's largest array job; other targets will bring their own limits. */
export const EACH_MAX_VALUES = 10_000;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The `--each` spec from the flags, or undefined when neither flag is given. Throws a usage error
 * (64) for any bad input, before anything is built or created; `target` and `type` name the target
 * the deploy goes to, which must be able to fan out.
 */
export async function eachSpecFor(flags: EachFlags, target: { name: string; type: string }, ctx: Pick<RunContext, 'cwd'>): Promise<EachSpec | undefined> {
  const items = [...(flags.each ?? []).map((v) => ({ flag: '--each', v })), ...(flags.eachFile ?? []).map((v) => ({ flag: '--each-file', v }))];
  if (items.length === 0) return undefined;
  const kind = TARGET_KINDS.find((k) => k.type === target.type);
  if (kind?.capabilities.each !== true) {
    const able = TARGET_KINDS.filter((k) => k.capabilities.each).map((k) => k.type);
    throw usageError('USAGE_EACH_UNSUPPORTED', `target ${target.name} is of type ${target.type}, which cannot fan a deploy out over values (${items[0]?.flag ?? '--each'})`, {
      where: items[0]?.flag ?? '--each',
      details: { target: target.name, type: target.type },
      suggestions: [
        `deploy to a target of type ${able.join(' or ')} for --each`,
        `or run one deploy per value in a shell loop: for v in V1 V2; do ferry deploy ${target.name} -e ${/^[A-Za-z_]\w*=/.test(items[0]?.v ?? '') ? (items[0]?.v ?? '').split('=')[0] ?? 'KEY' : 'KEY'}="$v"; done`,
      ],
    });
  }
  const specs: EachSpec[] = [];
  for (const { flag, v } of items) {
    const eq = v.indexOf('=');
    if (eq <= 0) {
      throw usageError('USAGE_EACH_BAD_SPEC', `${flag} ${v} is not ${flag === '--each' ? 'KEY=V1,V2,…' : 'KEY=PATH'}`, {
        where: flag,
        suggestions: [flag === '--each' ? 'write --each DATE=2024-01-01,2024-01-02' : 'write --each-file DATE=dates.txt (one value a line)'],
      });
    }
    const key = v.slice(0, eq);
    checkKey(key, flag);
    const dup = specs.find((s) => s.key === key);
    if (dup !== undefined) {
      throw usageError('USAGE_EACH_DUPLICATE_KEY', `${key} is given twice (${dup.source} and ${flag} ${v})`, {
        where: flag,
        suggestions: [`give the values of ${key} once: in one --each, or in one --each-file`],
      });
    }
    if (specs.length > 0) {
      throw usageError('USAGE_EACH_MULTIPLE_KEYS', `--each takes one key; ${specs[0]?.key ?? ''} and ${key} are two`, {
        where: flag,
        details: { keys: [specs[0]?.key, key] },
        suggestions: [
          'a Batch array job has one index: fan out over one key, and put the combinations in a file, one value a line (e.g. "2024-01-01 eu"), which the job splits',
          'or run one deploy per value of the other key',
        ],
      });
    }
    const rest = v.slice(eq + 1);
    const spec = flag === '--each' ? { key, values: listValues(key, rest), source: '--each' } : await fileValues(key, rest, ctx.cwd);
    specs.push(spec);
  }
  const spec = specs[0];
  if (spec === undefined) return undefined;
  if (spec.values.length > EACH_MAX_VALUES) {
    throw usageError('USAGE_EACH_TOO_MANY', `${spec.source} gives ${spec.values.length} values for ${spec.key}; a Batch array job has at most ${EACH_MAX_VALUES} children`, {
      where: spec.source,
      suggestions: [`split the values into deploys of at most ${EACH_MAX_VALUES}`],
    });
  }
  return spec;
}

function checkKey(key: string, flag: string): void {
  if (!ENV_NAME.test(key)) {
    throw usageError('USAGE_EACH_BAD_KEY', `${flag}: ${JSON.stringify(key)} is not an environment variable name (letters, digits and _, not starting with a digit)`, {
      where: flag,
      suggestions: [`rename it, e.g. ${flag} ${key.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1') || 'KEY'}=…`],
    });
  }
  // Batch refuses variables named AWS_BATCH*; FERRY_EACH_* are ferry's own.
  if (/^AWS_BATCH/.test(key) || /^FERRY_EACH_/.test(key) || /^__ferry_/.test(key)) {
    throw usageError('USAGE_EACH_BAD_KEY', `${flag}: ${key} is reserved (${key.startsWith('AWS_BATCH') ? 'AWS Batch sets AWS_BATCH* variables itself' : 'ferry sets FERRY_EACH_* and uses __ferry_* itself'})`, {
      where: flag,
      suggestions: ['use another name for the key'],
    });
  }
}

function listValues(key: string, list: string): string[] {
  const values = list.split(',');
  const empty = values.findIndex((v) => v === '');
  if (list === '') {
    throw usageError('USAGE_EACH_EMPTY', `--each ${key}= gives no values`, { where: '--each', suggestions: [`write --each ${key}=V1,V2`] });
  }
  if (empty !== -1) {
    throw usageError('USAGE_EACH_BAD_VALUE', `--each ${key}: value ${empty + 1} is empty (two commas in a row, or one at an end)`, {
      where: '--each',
      suggestions: ['remove the extra comma; for an empty value, or values with commas, use --each-file with a JSON array'],
    });
  }
  return values;
}

/**
 * `--each-file KEY=PATH`: a JSON array (`.json`), a YAML list (`.yaml`, `.yml`), or else one value a
 * line (surrounding white space trimmed; blank lines and lines starting with `#` skipped). Strings,
 * numbers and booleans are taken as their text.
 */
async function fileValues(key: string, file: string, cwd: string): Promise<EachSpec> {
  const abs = path.resolve(cwd, file);
  const source = `--each-file ${file}`;
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError('USAGE_EACH_FILE_NOT_FOUND', `--each-file ${key}=${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(e)})`}`, {
      where: '--each-file',
      cause: e,
      details: { path: abs },
      suggestions: ['a relative path is relative to the current folder; check it, or create the file'],
    });
  }
  const ext = path.extname(file).toLowerCase();
  const values: string[] = [];
  if (ext === '.json' || ext === '.yaml' || ext === '.yml') {
    let doc: unknown;
    try {
      doc = ext === '.json' ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw badFile(file, undefined, `is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e)}`, e);
    }
    if (!Array.isArray(doc)) throw badFile(file, undefined, `must be a ${ext === '.json' ? 'JSON array' : 'YAML list'} of values`);
    for (const [i, v] of (doc as unknown[]).entries()) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw badFile(file, undefined, `item ${i + 1} is not a string, number or boolean`);
      values.push(checkValue(String(v), `${file} item ${i + 1}`));
    }
  } else {
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      values.push(checkValue(line, `${file}:${i + 1}`));
    }
  }
  if (values.length === 0) {
    throw usageError('USAGE_EACH_EMPTY', `--each-file ${key}=${file} holds no values`, {
      where: file,
      suggestions: ['put one value a line in it (blank lines and # comments are skipped), or a JSON array in a .json file'],
    });
  }
  return { key, values, source };
}

function checkValue(v: string, where: string): string {
  // The values reach the container newline-separated in one variable, and no variable holds a NUL.
  if (v.includes('\n') || v.includes('\0')) {
    throw usageError('USAGE_EACH_BAD_VALUE', `${where}: a value holds a ${v.includes('\n') ? 'newline' : 'NUL character'}, which --each cannot pass on`, {
      where,
      suggestions: ['replace it (e.g. pass a file name or an id instead of multi-line text)'],
    });
  }
  return v;
}

function badFile(file: string, line: number | undefined, why: string, cause?: unknown): FerryError {
  return usageError('USAGE_EACH_BAD_FILE', `--each-file ${file} ${why}`, {
    where: line === undefined ? file : `${file}:${line}`,
    ...(cause === undefined ? {} : { cause }),
    suggestions: ['a .json file holds an array (["a","b"]), a .yaml file a list, any other file one value a line'],
  });
}

/**
 * The EachInput an adapter gets: the spec, and what ferry knows of the image (its CMD, and whether
 * it has /bin/sh), read without any download.
 */
export async function eachInputFor(
  spec: EachSpec,
  image: { layers: readonly { digest: string; mediaType: string; size: number }[]; cmd?: string[] | undefined; shellHint?: string | undefined; entrypoint?: string[] | undefined },
  ctx: Pick<RunContext, 'env' | 'cwd'>,
): Promise<EachInput> {
  // Looked for whatever the ENTRYPOINT: Batch cannot replace one (its adapter then skips the
  // wrapper), but Kubernetes can, and runs the wrapper before the image's own ENTRYPOINT.
  const { shellInLayers } = await import('../image/shell-probe.js');
  const { LayerCache, resolveCacheDir } = await import('../image/layer-cache.js');
  const cache = await LayerCache.open(resolveCacheDir(ctx.env, ctx.cwd));
  const inLayers = await shellInLayers(image.layers, { has: (d, s) => cache.blobs.has(d, s), path: (d) => cache.blobs.path(d) });
  const shell = inLayers === false ? undefined : (inLayers ?? image.shellHint);
  return { ...spec, imageCmd: image.cmd, shell };
}

/** The failed children of a run, with their values, for the deploy result. */
export function failedChildrenWithValues(status: RunStatus, spec: EachSpec): (FailedChild & { value: string })[] {
  return (status.failedChildren ?? []).map((c) => ({ ...c, value: spec.values[c.index] ?? '' }));
}

/** Lines for stderr when children failed: how many, and the sample with index, value, exit code and reason. */
export function failedChildrenReport(status: RunStatus, spec: EachSpec): string[] {
  // The parent's summary can lag behind the children ferry listed: never say fewer failed than it names.
  const failed = Math.max(status.children?.failed ?? 0, (status.failedChildren ?? []).length);
  if (failed === 0 && (status.failedChildren ?? []).length === 0) return [];
  const lines = [`${failed} of ${spec.values.length} children failed${(status.failedChildren ?? []).length < failed ? `; the first ${String(status.failedChildren?.length ?? 0)} ferry looked at:` : ':'}`];
  for (const c of failedChildrenWithValues(status, spec)) {
    lines.push(
      `  child ${c.index} (${spec.key}=${JSON.stringify(c.value)}): ${c.exitCode !== undefined ? `exit code ${c.exitCode}` : 'no exit code'}${c.reason !== undefined ? `: ${c.reason}` : ''}`,
    );
  }
  return lines;
}
