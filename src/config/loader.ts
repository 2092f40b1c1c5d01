import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { configError } from '../core/errors.js';
import { ferryConfigSchema, knownKeys, type FerryConfigParsed } from './schema.js';
import { nearest } from '../core/suggest.js';

export const DEFAULT_CONFIG_FILE = 'ferry.yaml';

/** Command-line and environment values that win over the file (flags > env > file > defaults). */
export interface ConfigOverrides {
  imageName?: string | undefined;
  platform?: string | undefined;
  buildArgs?: Record<string, string> | undefined;
  tags?: string[] | undefined;
  insecureRegistries?: string[] | undefined;
}

export interface LoadedConfig {
  /** Absolute path of the file read. */
  file: string;
  /** Directory of the file; relative paths in it resolve from here. */
  dir: string;
  config: FerryConfigParsed;
  /** Absolute context directory. */
  contextDir: string;
  /** Absolute Dockerfile path. */
  dockerfile: string;
  /** "ferry.yaml:LINE:COL" of a key's value in the file, for checks made after the schema's. */
  locate?: (keyPath: (string | number)[], expected?: string) => string | undefined;
}

export interface ConfigIssue {
  code: string;
  path: string;
  line?: number;
  column?: number;
  message: string;
  suggestion?: string;
}

interface Located {
  doc: Document.Parsed;
  counter: LineCounter;
  display: string;
}

/** Resolve which file to read: --config, then FERRY_CONFIG, then ./ferry.yaml (or .yml). */
export async function resolveConfigPath(explicit: string | undefined, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const given = explicit ?? (env['FERRY_CONFIG'] !== undefined && env['FERRY_CONFIG'] !== '' ? env['FERRY_CONFIG'] : undefined);
  if (given !== undefined) return path.resolve(cwd, given);
  for (const name of [DEFAULT_CONFIG_FILE, 'ferry.yml']) {
    const candidate = path.join(cwd, name);
    if (await exists(candidate)) return candidate;
  }
  throw configError('CONFIG_NOT_FOUND', `no ${DEFAULT_CONFIG_FILE} in ${cwd}`, {
    where: path.join(cwd, DEFAULT_CONFIG_FILE),
    suggestions: [
      'run ferry in the folder that has ferry.yaml, or pass --config FILE (or set FERRY_CONFIG)',
      'a minimal ferry.yaml is:  apiVersion: ferry/v1 / image: {name: REGISTRY/REPO}',
    ],
  });
}

export async function loadConfig(opts: {
  configPath?: string | undefined;
  cwd: string;
  env: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
}): Promise<LoadedConfig> {
  const file = await resolveConfigPath(opts.configPath, opts.cwd, opts.env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(code === 'ENOENT' ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE', `cannot read ${file}: ${code ?? String(e)}`, {
      where: file,
      cause: e,
      suggestions: ['check the path given with --config or FERRY_CONFIG'],
    });
  }
  const parsed = parseConfigText(text, displayPath(file, opts.cwd));
  const config = applyOverrides(parsed, opts.overrides ?? {}, opts.env);
  const dir = path.dirname(file);
  const contextDir = path.resolve(dir, config.image.context);
  const dockerfile = path.resolve(contextDir, config.image.dockerfile);
  const display = displayPath(file, opts.cwd);
  // With `expected`, only when the file holds that value (not when a flag or variable replaced it).
  const locate = (keyPath: (string | number)[], expected?: string): string | undefined => {
    const counter = new LineCounter();
    const loc: Located = { doc: parseDocument(text, { lineCounter: counter }), counter, display };
    const node = nodeAt(loc, keyPath);
    if (node === undefined || (expected !== undefined && !(isScalar(node) && node.value === expected))) return undefined;
    const pos = valuePosition(loc, keyPath);
    return `${display}:${pos.line ?? 1}:${pos.column ?? 1}`;
  };
  return { file, dir, config, contextDir, dockerfile, locate };
}

/** Parse and validate ferry.yaml text. Errors name file:line:column and the key. */
export function parseConfigText(text: string, display: string): FerryConfigParsed {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const loc: Located = { doc, counter, display };
  const yamlErr = doc.errors[0];
  if (yamlErr !== undefined) {
    const pos = counter.linePos(yamlErr.pos[0]);
    throw configError('CONFIG_YAML_SYNTAX', `${display}:${pos.line}:${pos.col}: ${firstLine(yamlErr.message)}`, {
      where: `${display}:${pos.line}:${pos.col}`,
      suggestions: ['fix the YAML syntax at that position (indentation, a missing colon, an unclosed quote or bracket)'],
    });
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError('CONFIG_INVALID', `${display}: expected a mapping with apiVersion and image`, {
      where: `${display}:1:1`,
      suggestions: ['start the file with:  apiVersion: ferry/v1'],
    });
  }
  const result = ferryConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  // A typo'd key also makes its intended key "missing"; the typo is the cause, so it leads.
  const issues = result.error.issues
    .flatMap((i) => describeIssue(i, loc))
    .sort((a, b) => Number(b.code === 'CONFIG_UNKNOWN_KEY') - Number(a.code === 'CONFIG_UNKNOWN_KEY'));
  throw issuesError(issues, display);
}

export function issuesError(issues: ConfigIssue[], display: string): Error {
  const first = issues[0];
  const where = first === undefined ? display : `${display}:${first.line ?? 1}:${first.column ?? 1} (${first.path || '<root>'})`;
  const lines = issues.map((i) => `${display}:${i.line ?? 1}:${i.column ?? 1}: ${i.path || '<root>'}: ${i.message}`);
  const suggestions = issues.flatMap((i) => (i.suggestion === undefined ? [] : [i.suggestion]));
  if (suggestions.length === 0) suggestions.push('run `ferry config schema` to see every key and its type');
  return configError(first?.code ?? 'CONFIG_INVALID', lines.join('\n'), {
    where,
    suggestions,
    details: { issues },
  });
}

function describeIssue(issue: z.core.$ZodIssue, loc: Located): ConfigIssue[] {
  const basePath = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const candidates = knownKeys(basePath);
      const near = nearest(key, candidates);
      const pos = keyPosition(loc, basePath, key);
      const out: ConfigIssue = {
        code: 'CONFIG_UNKNOWN_KEY',
        path: joinPath([...basePath, key]),
        message: near === undefined ? `unknown key "${key}"` : `unknown key "${key}"; did you mean "${near}"?`,
        ...pos,
      };
      out.suggestion =
        near !== undefined
          ? `rename "${key}" to "${near}"`
          : `remove "${key}"; valid keys here: ${candidates.join(', ') || '(none)'}`;
      return out;
    });
  }
  const pos = valuePosition(loc, basePath);
  let message = issue.message;
  if (issue.code === 'invalid_type' && message.includes('received undefined')) message = `missing required key (${message.replace(/^Invalid input: /, '')})`;
  if (issue.code === 'invalid_value' && basePath.join('.') === 'apiVersion') message = 'apiVersion must be "ferry/v1"';
  return [{ code: 'CONFIG_INVALID', path: joinPath(basePath), message, ...pos }];
}

function joinPath(p: (string | number)[]): string {
  return p.map((x) => String(x)).join('.');
}

function nodeAt(loc: Located, p: (string | number)[]): YamlNode | undefined {
  let node: unknown = loc.doc.contents;
  for (const part of p) {
    if (!isMap(node)) return undefined;
    const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(part));
    if (pair === undefined) return undefined;
    node = pair.value;
  }
  return node as YamlNode | undefined;
}

function position(loc: Located, offset: number | undefined): { line?: number; column?: number } {
  if (offset === undefined) return {};
  const p = loc.counter.linePos(offset);
  return { line: p.line, column: p.col };
}

function keyPosition(loc: Located, mapPath: (string | number)[], key: string): { line?: number; column?: number } {
  const map = mapPath.length === 0 ? loc.doc.contents : nodeAt(loc, mapPath);
  if (!isMap(map)) return {};
  const pair = map.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
  const keyNode = pair?.key;
  return isScalar(keyNode) ? position(loc, keyNode.range?.[0]) : {};
}

/** The value's position, or the nearest existing parent's when the key is missing. */
function valuePosition(loc: Located, p: (string | number)[]): { line?: number; column?: number } {
  for (let n = p.length; n >= 0; n--) {
    const prefix = p.slice(0, n);
    if (n > 0 && n === p.length) {
      const parent = prefix.slice(0, -1);
      const last = prefix[prefix.length - 1];
      const map = parent.length === 0 ? loc.doc.contents : nodeAt(loc, parent);
      if (isMap(map) && last !== undefined) {
        const pair = map.items.find((it) => isScalar(it.key) && String(it.key.value) === String(last));
        const v = pair?.value as YamlNode | null | undefined;
        if (v?.range) return position(loc, v.range[0]);
        if (isScalar(pair?.key)) return position(loc, pair.key.range?.[0]);
      }
      continue;
    }
    const node = n === 0 ? loc.doc.contents : nodeAt(loc, prefix);
    if (node?.range) return position(loc, node.range[0]);
  }
  return { line: 1, column: 1 };
}

function applyOverrides(config: FerryConfigParsed, o: ConfigOverrides, env: NodeJS.ProcessEnv): FerryConfigParsed {
  const image = { ...config.image };
  const name = o.imageName ?? nonEmpty(env['FERRY_IMAGE']);
  if (name !== undefined) image.name = name;
  const platform = o.platform ?? nonEmpty(env['FERRY_PLATFORM']);
  if (platform !== undefined) image.platform = platform;
  if (o.buildArgs) image.buildArgs = { ...image.buildArgs, ...o.buildArgs };
  if (o.tags && o.tags.length > 0) image.tags = [...new Set([...image.tags, ...o.tags])];
  const registries = { ...config.registries };
  const insecure = [...(o.insecureRegistries ?? []), ...(nonEmpty(env['FERRY_INSECURE_REGISTRIES'])?.split(',') ?? [])];
  for (const host of insecure.map((h) => h.trim()).filter((h) => h !== '')) {
    registries[host] = { ...(registries[host] ?? {}), insecure: true };
  }
  return { ...config, image, registries };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function displayPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
