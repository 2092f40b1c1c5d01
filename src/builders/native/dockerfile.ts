/**
 * Dockerfile parsing as Docker does it today: BuildKit's Dockerfile frontend
 * (moby/buildkit frontend/dockerfile/parser, .../instructions, .../dockerfile2llb), checked
 * against BuildKit v0.34 by running both on the same files. Followed rules:
 *
 * - Parser directives (`# escape=`, `# syntax=`, `# check=`) are only read at the very top: the
 *   first line that is not a directive (an instruction, another comment, a blank line) ends them.
 *   Names are case-insensitive, each may appear once, the escape token is `\` or a backtick.
 * - A line ending in the escape token (trailing blanks allowed) continues on the next line, the
 *   token and the blanks removed and nothing inserted. Inside a continued instruction, comment
 *   lines are dropped and blank lines are skipped (with a warning, as BuildKit warns).
 * - Instruction names are case-insensitive. Leading `--name[=value]` words are flags; `--` ends
 *   them. Unknown flags are errors, as are flags on instructions that take none (except where
 *   BuildKit never checks: STOPSIGNAL, ARG, HEALTHCHECK NONE).
 * - RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD, VOLUME and HEALTHCHECK CMD take a JSON array of
 *   strings ("exec form"). Text that is not exactly a JSON array is the shell form (so
 *   `ENTRYPOINT ['bash']` runs `/bin/sh -c "['bash']"`); ferry warns when it looks meant as JSON.
 *   A JSON array holding something other than strings is an error, as in Docker.
 * - Heredocs (`<<EOF`, `<< EOF`, `<<-EOF`, `<<"EOF"` in RUN, COPY and ADD) are found and their
 *   bodies read as BuildKit does, then refused with DOCKERFILE_HEREDOC.
 * - Variables are expanded at build time, not here (see StageScope and shell-words.ts), in the
 *   instructions Docker expands: ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR,
 *   and ARG defaults; never in RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD. A variable in
 *   COPY --from is an error, as in Docker.
 * - ARGs before the first FROM are global: visible in FROM lines only, and inside a stage only
 *   after `ARG NAME` redeclares them.
 * - Stage names are lowercased and must match ^[a-z][a-z0-9-_.]*$. FROM can name an earlier
 *   stage; COPY --from can name a stage (case-insensitively), give its index, or name an image.
 *   Where BuildKit only warns about a repeated stage name (and uses the last one), ferry refuses
 *   it with DOCKERFILE_DUPLICATE_STAGE, since which stage is meant is then a guess.
 *
 * Errors are FerryErrors with exit code 65 and `where` set to "<file>:<line>". Warnings are
 * returned, never printed.
 */
import { nearest } from '../../core/suggest.js';
import { dataError, type FerryError, isFerryError } from '../../core/errors.js';
import { type EnvSource, type EscapeToken, expandWord, expandWords, isGoSpace, trimGo, withWhere } from './shell-words.js';

export type { EnvSource, EscapeToken } from './shell-words.js';

// ---------------------------------------------------------------------------------------------
// Types

export interface Directive {
  /** Lowercased: "escape", "syntax" or "check". */
  name: string;
  value: string;
  line: number;
}

export interface ParseWarning {
  code: string;
  line: number;
  message: string;
}

interface InstructionBase {
  /** The keyword as written ("copy", "Copy", "COPY"). */
  keyword: string;
  /** 1-based line where the instruction starts. */
  line: number;
  /** 1-based line where it ends (after continuation lines). */
  endLine: number;
  /** The logical line: continuation lines joined, comments removed. */
  original: string;
  /** The `--flag[=value]` words as written, before parsing. */
  flags: string[];
  /** The first heredoc word (`<<EOF`), when parsed with `heredocs: 'allow'`; its body is in endLine. */
  heredoc?: string;
}

export interface FromInstruction extends InstructionBase {
  kind: 'FROM';
  /** Base image, stage name or "scratch", unexpanded (may hold $ARGs). */
  image: string;
  /** `AS name`, lowercased. */
  stageName?: string;
  /** `--platform` value, unexpanded. */
  platform?: string;
}

export interface CopyInstruction extends InstructionBase {
  kind: 'COPY';
  sources: string[];
  dest: string;
  /** Written as a JSON array. */
  json: boolean;
  /** `--from`: stage name, stage index or image. Variables are refused here, as Docker refuses them. */
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
}

export interface AddInstruction extends InstructionBase {
  kind: 'ADD';
  sources: string[];
  dest: string;
  json: boolean;
  chown?: string;
  chmod?: string;
  link: boolean;
  /** `--keep-git-dir`: undefined when not given. */
  keepGitDir?: boolean;
  checksum?: string;
  /** `--unpack`: undefined when not given (Docker then unpacks local archives). */
  unpack?: boolean;
  exclude: string[];
}

export interface KeyValue {
  /** Unexpanded; quotes are still in place and removed by expansion. */
  key: string;
  value: string;
  /** Written in the legacy `ENV key value` form. */
  legacy: boolean;
}

export interface EnvInstruction extends InstructionBase {
  kind: 'ENV';
  pairs: KeyValue[];
}

export interface LabelInstruction extends InstructionBase {
  kind: 'LABEL';
  pairs: KeyValue[];
}

export interface ArgDecl {
  key: string;
  /** The default as written (quotes intact), if any. */
  default?: string;
  /** The value in effect, filled in by StageScope.apply (build arg, default or global). */
  value?: string;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'ARG';
  args: ArgDecl[];
}

export interface WorkdirInstruction extends InstructionBase {
  kind: 'WORKDIR';
  path: string;
}

export interface UserInstruction extends InstructionBase {
  kind: 'USER';
  user: string;
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'EXPOSE';
  /** Port words, sorted as Docker sorts them; expansion may split one into several. */
  ports: string[];
}

export interface EntrypointInstruction extends InstructionBase {
  kind: 'ENTRYPOINT';
  /** Exec form: the array. Shell form: one string, the command text. */
  command: string[];
  json: boolean;
}

export interface CmdInstruction extends InstructionBase {
  kind: 'CMD';
  command: string[];
  json: boolean;
}

export interface RunInstruction extends InstructionBase {
  kind: 'RUN';
  command: string[];
  json: boolean;
  mounts: string[];
  network?: string;
  security?: string;
  devices: string[];
}

export interface ShellInstruction extends InstructionBase {
  kind: 'SHELL';
  shell: string[];
}

export interface StopSignalInstruction extends InstructionBase {
  kind: 'STOPSIGNAL';
  signal: string;
}

export interface VolumeInstruction extends InstructionBase {
  kind: 'VOLUME';
  volumes: string[];
  json: boolean;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'HEALTHCHECK';
  /** As in the image config: ["NONE"], ["CMD", ...args] or ["CMD-SHELL", command]. */
  test: string[];
  /** Durations in nanoseconds, as the image config stores them; absent when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'ONBUILD';
  /** The trigger's instruction name, uppercased. */
  trigger: string;
  /** The trigger as stored in the image config (the line without "ONBUILD "). */
  expression: string;
}

export interface MaintainerInstruction extends InstructionBase {
  kind: 'MAINTAINER';
  maintainer: string;
}

export type Instruction =
  | FromInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | EntrypointInstruction
  | CmdInstruction
  | RunInstruction
  | ShellInstruction
  | StopSignalInstruction
  | VolumeInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type InstructionKind = Instruction['kind'];

export interface Stage {
  index: number;
  /** `AS name`, lowercased as Docker does. */
  name?: string;
  from: FromInstruction;
  /** The base as written in FROM, unexpanded. */
  baseName: string;
  /** FROM --platform as written, unexpanded. */
  platform?: string;
  /** The stage's instructions after FROM, in order. */
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Display name used in `where` ("Dockerfile", "sub/Dockerfile.prod"). */
  file: string;
  escapeToken: EscapeToken;
  directives: Directive[];
  /** Value of `# syntax=`, if present. */
  syntax?: string;
  /** Every instruction in file order, FROMs and global ARGs included. */
  instructions: Instruction[];
  /** ARG instructions before the first FROM. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  warnings: ParseWarning[];
}

export interface ParseOptions {
  /** Display name for `where`, default "Dockerfile". */
  file?: string;
  /**
   * `refuse` (default): a heredoc is DOCKERFILE_HEREDOC, as the native builder cannot build it.
   * `allow`: the instruction carries `heredoc` and counts as needing an engine (which builds it).
   */
  heredocs?: 'refuse' | 'allow';
}

export const INSTRUCTION_NAMES: readonly InstructionKind[] = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

const REFERENCE_URL = 'https://docs.docker.com/reference/dockerfile/';
const ENGINE_HINT = 'build it with an engine: --builder auto (the default) picks docker, podman or buildah, or name one with --builder podman';

// ---------------------------------------------------------------------------------------------
// Errors

function fail(code: string, message: string, where: string, suggestions: string[] = [], cause?: unknown): FerryError {
  return dataError(code, message, { where, suggestions, ...(cause === undefined ? {} : { cause }) });
}

/** The closest candidate, if it is close enough to be a plausible typo. */
export function closest(value: string, candidates: readonly string[], caseSensitive = false): string | undefined {
  return nearest(value, candidates, { caseSensitive });
}

// ---------------------------------------------------------------------------------------------
// Pass 1: logical lines into nodes (BuildKit parser.Parse)

interface RawNode {
  keyword: string;
  lower: string;
  original: string;
  flags: string[];
  /** Arguments as the line parser produced them. */
  args: string[];
  json: boolean;
  /** ENV and LABEL pairs. */
  pairs?: KeyValue[];
  /** ONBUILD's trigger. */
  child?: RawNode;
  /** HEALTHCHECK's type word (CMD/NONE). */
  healthType?: string;
  /** The first heredoc word (`<<EOF`) on the line, refused in pass 2 where Docker reports errors. */
  heredoc?: string;
  line: number;
  endLine: number;
}

interface LineContext {
  file: string;
  escape: EscapeToken;
  warnings: ParseWarning[];
  line: number;
}

/** Go's `[\t\v\f\r ]+`, which splits FROM, EXPOSE and shell-form COPY/ADD/VOLUME arguments. */
const RE_WHITESPACE = /[\t\v\f\r ]+/;

function trimLeftGo(s: string): string {
  let i = 0;
  const chars = Array.from(s);
  while (i < chars.length && isGoSpace(chars[i] ?? '')) i++;
  return chars.slice(i).join('');
}

function continuationRegExp(escape: EscapeToken): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

const RE_DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const VALID_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const MAX_LINE_BYTES = 64 * 1024;

/** BuildKit's heredoc word: optional fd, `<<`, optional `-`, blanks, then the (possibly quoted) name. */
const RE_HEREDOC = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

interface LinesResult {
  escape: EscapeToken;
  directives: Directive[];
  nodes: RawNode[];
}

function parseLines(text: string, file: string, warnings: ParseWarning[]): LinesResult {
  const directives: Directive[] = [];
  const seen = new Set<string>();
  let directivesDone = false;
  let escape: EscapeToken = '\\';
  let contRe = continuationRegExp(escape);
  const nodes: RawNode[] = [];

  // Lines keep their terminators, as BuildKit's scanner does; a final empty piece is no line.
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  let idx = 0;
  let currentLine = 0;

  const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
  const isComment = (s: string): boolean => trimLeftGo(trimNewline(s)).startsWith('#');
  const readLine = (): string | undefined => {
    const l = raw[idx];
    if (l === undefined) return undefined;
    idx++;
    if (Buffer.byteLength(l, 'utf8') + 1 > MAX_LINE_BYTES) {
      throw fail('DOCKERFILE_SYNTAX', `line ${idx} is longer than the ${MAX_LINE_BYTES - 1} bytes Docker accepts`, `${file}:${idx}`, [
        'split the line with the escape character at the end of each part',
      ]);
    }
    return l;
  };

  const directive = (token: string, lineNo: number): void => {
    if (directivesDone) return;
    const m = token.startsWith('#') ? RE_DIRECTIVE.exec(trimLeftGo(token.slice(1))) : null;
    const name = m?.[1]?.toLowerCase();
    if (m === null || name === undefined || !VALID_DIRECTIVES.has(name)) {
      directivesDone = true;
      return;
    }
    const value = m[2] ?? '';
    if (seen.has(name)) {
      throw fail('DOCKERFILE_SYNTAX', `only one ${name} parser directive can be used`, `${file}:${lineNo}`, [
        `remove the second "# ${name}=" line`,
      ]);
    }
    seen.add(name);
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw fail('DOCKERFILE_SYNTAX', `invalid escape token '${value}' does not match \` or \\`, `${file}:${lineNo}`, [
          'use "# escape=\\" (the default) or "# escape=`"',
        ]);
      }
      escape = value;
      contRe = continuationRegExp(escape);
    }
    directives.push({ name, value, line: lineNo });
  };

  /** BuildKit's processLine: strip the newline (and leading blanks on a first line), drop comments. */
  const processLine = (l: string, stripLeft: boolean, lineNo: number): string => {
    let token = trimNewline(l);
    if (stripLeft) token = trimLeftGo(token);
    directive(token, lineNo);
    return token.startsWith('#') ? '' : token;
  };

  const trimContinuation = (l: string): [string, boolean] => {
    if (contRe.test(l)) return [l.replace(contRe, '$1'), false];
    return [l, true];
  };

  for (let first = readLine(); first !== undefined; first = readLine()) {
    let l = first;
    if (currentLine === 0) l = l.replace(/^\uFEFF/, '');
    const processed = processLine(l, true, currentLine + 1);
    currentLine++;
    const startLine = currentLine;
    let [line, isEnd] = trimContinuation(processed);
    if (isEnd && line === '') continue;

    let emptyContinuationLine: number | undefined;
    while (!isEnd) {
      const next = readLine();
      if (next === undefined) break;
      const cont = processLine(next, false, currentLine + 1);
      currentLine++;
      if (isComment(next)) continue;
      if (trimLeftGo(cont) === '') {
        emptyContinuationLine ??= currentLine;
        continue;
      }
      const [piece, end] = trimContinuation(cont);
      line += piece;
      isEnd = end;
    }
    if (emptyContinuationLine !== undefined) {
      warnings.push({
        code: 'DOCKERFILE_EMPTY_CONTINUATION',
        line: emptyContinuationLine,
        message: `empty continuation line inside the instruction starting at line ${startLine}; Docker will make this an error in a future release`,
      });
    }

    const ctx: LineContext = { file, escape, warnings, line: startLine };
    const node = nodeFromLine(line, ctx, startLine, currentLine);
    const heredocs = findHeredocs(node, line, ctx);
    // Read the heredoc bodies as BuildKit does, so that later lines parse as they would there.
    for (const h of heredocs) {
      let terminated = false;
      for (let body = readLine(); body !== undefined; body = readLine()) {
        currentLine++;
        let candidate = trimNewline(body);
        if (h.chomp) candidate = candidate.replace(/^\t+/, '');
        if (candidate === h.name) {
          terminated = true;
          break;
        }
      }
      if (!terminated) {
        throw fail('DOCKERFILE_HEREDOC', `unterminated heredoc ${h.word} in the instruction at line ${startLine}`, `${file}:${startLine}`, [
          `end the heredoc with a line holding only ${h.name}, or better, move its content into a file in the build context`,
          ENGINE_HINT,
        ]);
      }
    }
    if (heredocs[0] !== undefined) {
      node.heredoc = heredocs[0].word;
      node.endLine = currentLine;
    }
    nodes.push(node);
  }
  return { escape, directives, nodes };
}

function nodeFromLine(line: string, ctx: LineContext, startLine: number, endLine: number): RawNode {
  const trimmed = trimGo(line);
  const m = RE_WHITESPACE.exec(trimmed);
  const keyword = m === null ? trimmed : trimmed.slice(0, m.index);
  let rest = '';
  let flags: string[] = [];
  if (m !== null) [rest, flags] = extractBuilderFlags(trimmed.slice(m.index + m[0].length), ctx.escape);
  rest = trimGo(rest);
  const lower = keyword.toLowerCase();
  const node: RawNode = { keyword, lower, original: line, flags, args: [], json: false, line: startLine, endLine };
  const where = `${ctx.file}:${startLine}`;

  switch (lower) {
    case 'add':
    case 'copy':
    case 'volume':
      Object.assign(node, maybeJsonToList(rest, keyword, ctx));
      break;
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      Object.assign(node, maybeJson(rest, keyword, ctx));
      break;
    case 'arg':
      node.args = parseWords(rest, ctx.escape);
      break;
    case 'env':
    case 'label':
      node.pairs = parseNameVal(rest, keyword.toUpperCase(), ctx.escape, where);
      break;
    case 'expose':
    case 'from':
      node.args = splitWhitespace(rest);
      break;
    case 'healthcheck': {
      const chars = Array.from(rest);
      let sep = 0;
      while (sep < chars.length && !isGoSpace(chars[sep] ?? '')) sep++;
      let next = sep;
      while (next < chars.length && isGoSpace(chars[next] ?? '')) next++;
      if (sep === 0) break;
      node.healthType = chars.slice(0, sep).join('');
      const cmd = maybeJson(chars.slice(next).join(''), `${keyword} ${node.healthType}`, ctx);
      node.args = [node.healthType, ...cmd.args];
      node.json = cmd.json;
      break;
    }
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      node.args = rest === '' ? [] : [rest];
      break;
    case 'onbuild':
      if (rest !== '') {
        node.child = nodeFromLine(rest, ctx, startLine, endLine);
        node.args = [node.child.keyword, ...node.child.args];
      }
      break;
    default:
      // Unknown instructions are kept here and refused in pass 2, as BuildKit does.
      break;
  }
  return node;
}

/** BuildKit's extractBuilderFlags: leading `--` words (quotes and the escape token honoured) become flags. */
function extractBuilderFlags(line: string, escape: EscapeToken): [string, string[]] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const chars = Array.from(line);
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === chars.length || chars[pos + 1] !== '-') return [chars.slice(pos).join(''), words];
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return [chars.slice(pos).join(''), words];
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        pos++;
        ch = chars[pos] ?? '';
      }
      word += ch;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = chars[pos] ?? '';
    }
    word += ch;
  }
  return ['', words];
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(RE_WHITESPACE);
}

/**
 * BuildKit's parseWords: words split on blanks, quotes kept in place (expansion removes them),
 * the escape token keeps the next character (even a quote) in the word.
 */
function parseWords(rest: string, escape: EscapeToken): string[] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const chars = Array.from(rest);
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        pos++;
        ch = chars[pos] ?? '';
      }
      word += ch;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) phase = 'word';
    // Nothing escapes inside single quotes.
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos] ?? '';
    }
    word += ch;
  }
  return words;
}

/** ENV and LABEL: `K=V K2="v 2"`, or the legacy `K value with spaces`. */
function parseNameVal(rest: string, key: string, escape: EscapeToken, where: string): KeyValue[] {
  const words = parseWords(rest, escape);
  const first = words[0];
  if (first === undefined) return [];
  if (!first.includes('=')) {
    const m = RE_WHITESPACE.exec(rest);
    if (m === null) {
      throw fail('DOCKERFILE_SYNTAX', `${key} must have two arguments`, where, [`write ${key} name=value`]);
    }
    return [{ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length), legacy: true }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      throw fail('DOCKERFILE_SYNTAX', `Syntax error - can't find = in "${w}". Must be of the form: name=value`, where, [
        `quote values with spaces: ${key} name="a value"`,
      ]);
    }
    return { key: w.slice(0, eq), value: w.slice(eq + 1), legacy: false };
  });
}

// --- JSON (exec form) --------------------------------------------------------------------------

type JsonArrayResult = { kind: 'strings'; values: string[] } | { kind: 'not-strings' } | { kind: 'invalid' };

/**
 * Decode `text` as a JSON array as Go's json.Unmarshal does: strict JSON, nothing but blanks after
 * the closing bracket (`["a"] b` is not JSON, so it is shell form).
 */
function decodeJsonArrayPrefix(text: string): JsonArrayResult {
  let i = 0;
  let allStrings = true;
  const values: string[] = [];
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const str = (): string | undefined => {
    if (text.charAt(i) !== '"') return undefined;
    i++;
    let out = '';
    while (i < text.length) {
      const c = text.charAt(i);
      const code = text.charCodeAt(i);
      if (c === '"') {
        i++;
        return out;
      }
      if (code < 0x20) return undefined;
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text.charAt(i + 1);
      i += 2;
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      const mapped = simple[e];
      if (mapped !== undefined) {
        out += mapped;
        continue;
      }
      if (e !== 'u') return undefined;
      const hex = text.slice(i, i + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
      i += 4;
      let cp = parseInt(hex, 16);
      if (cp >= 0xd800 && cp < 0xdc00) {
        // Go joins a valid surrogate pair and turns a lone surrogate into U+FFFD.
        const lowHex = text.slice(i + 2, i + 6);
        const low = /^[0-9a-fA-F]{4}$/.test(lowHex) && text.slice(i, i + 2) === '\\u' ? parseInt(lowHex, 16) : -1;
        if (low >= 0xdc00 && low < 0xe000) {
          i += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else {
          cp = 0xfffd;
        }
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        cp = 0xfffd;
      }
      out += String.fromCodePoint(cp);
    }
    return undefined;
  };
  const value = (depth: number): boolean => {
    ws();
    const c = text.charAt(i);
    if (c === '"') return str() !== undefined;
    if (c === '[') {
      i++;
      ws();
      if (text.charAt(i) === ']') {
        i++;
        return true;
      }
      for (;;) {
        if (!value(depth + 1)) return false;
        ws();
        if (text.charAt(i) === ',') {
          i++;
          continue;
        }
        if (text.charAt(i) === ']') {
          i++;
          return true;
        }
        return false;
      }
    }
    if (c === '{') {
      i++;
      ws();
      if (text.charAt(i) === '}') {
        i++;
        return true;
      }
      for (;;) {
        ws();
        if (str() === undefined) return false;
        ws();
        if (text.charAt(i) !== ':') return false;
        i++;
        if (!value(depth + 1)) return false;
        ws();
        if (text.charAt(i) === ',') {
          i++;
          continue;
        }
        if (text.charAt(i) === '}') {
          i++;
          return true;
        }
        return false;
      }
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return true;
      }
    }
    const num = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (num === null) return false;
    i += num[0].length;
    // Go refuses to decode a number that overflows float64, and Docker then falls back to shell form.
    return Number.isFinite(Number(num[0]));
  };

  if (text.charAt(0) !== '[') return { kind: 'invalid' };
  i = 1;
  ws();
  if (text.charAt(i) === ']') {
    i++;
    ws();
    return i < text.length ? { kind: 'invalid' } : { kind: 'strings', values };
  }
  for (;;) {
    ws();
    const start = i;
    if (text.charAt(i) === '"') {
      const s = str();
      if (s === undefined) return { kind: 'invalid' };
      values.push(s);
    } else {
      if (!value(1)) return { kind: 'invalid' };
      if (i === start) return { kind: 'invalid' };
      allStrings = false;
    }
    ws();
    const c = text.charAt(i);
    if (c === ',') {
      i++;
      continue;
    }
    if (c === ']') break;
    return { kind: 'invalid' };
  }
  i++;
  ws();
  if (i < text.length) return { kind: 'invalid' };
  return allStrings ? { kind: 'strings', values } : { kind: 'not-strings' };
}

/** Whether shell-form text was probably meant as exec form: `['bash']`, `["a", "b",]`, `["a" "b"]`. */
function looksLikeJson(text: string): boolean {
  const t = trimGo(text);
  if (!t.startsWith('[')) return false;
  if (t.startsWith('["') || t.startsWith("['")) return true;
  // A bracketed list of quoted strings separated by commas, with the wrong quotes or a stray comma.
  return /^\[\s*(?:(?:"(?:[^"\\]|\\.)*"|'[^']*')\s*,\s*)*(?:(?:"(?:[^"\\]|\\.)*"|'[^']*')\s*,?\s*)?\]$/.test(t) && /["']/.test(t);
}

function parseJsonArgs(rest: string, instruction: string, ctx: LineContext): string[] | undefined {
  const r = decodeJsonArrayPrefix(trimLeftGo(rest));
  if (r.kind === 'strings') return r.values;
  if (r.kind === 'not-strings') {
    throw fail('DOCKERFILE_BAD_JSON', `${instruction}: when using JSON array syntax, arrays must be comprised of strings only`, `${ctx.file}:${ctx.line}`, [
      'quote every element: ["sleep", "10"], not ["sleep", 10]',
    ]);
  }
  if (looksLikeJson(rest)) {
    ctx.warnings.push({
      code: 'DOCKERFILE_JSON_SHELL_FORM',
      line: ctx.line,
      message: `${instruction} ${trimGo(rest)} is not a valid JSON array, so Docker treats it as shell form; for exec form use double quotes and commas: ["a", "b"]`,
    });
  }
  return undefined;
}

function maybeJson(rest: string, instruction: string, ctx: LineContext): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false };
  const arr = parseJsonArgs(rest, instruction, ctx);
  return arr === undefined ? { args: [rest], json: false } : { args: arr, json: true };
}

function maybeJsonToList(rest: string, instruction: string, ctx: LineContext): { args: string[]; json: boolean } {
  const arr = parseJsonArgs(rest, instruction, ctx);
  return arr === undefined ? { args: splitWhitespace(rest), json: false } : { args: arr, json: true };
}

// --- Heredocs -----------------------------------------------------------------------------------

interface HeredocWord {
  word: string;
  name: string;
  chomp: boolean;
}

/** The heredocs BuildKit finds on a RUN/COPY/ADD line (ONBUILD's included), in order. */
function findHeredocs(node: RawNode, line: string, ctx: LineContext): HeredocWord[] {
  const target = node.lower === 'onbuild' && node.child !== undefined ? node.child : node;
  if (!['run', 'copy', 'add'].includes(target.lower) || target.json || !line.includes('<<')) return [];
  let words: string[];
  try {
    // BuildKit ignores lexing errors here: such a line simply has no heredoc.
    words = expandWords(line, {}, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    words = [];
  }
  const out: HeredocWord[] = [];
  for (const word of words) {
    const m = RE_HEREDOC.exec(word);
    const rest = m?.[3];
    if (m === null || rest === undefined || rest === '') continue;
    let names: string[];
    try {
      names = expandWords(rest, {}, { skipUnsetEnv: true });
    } catch (e) {
      throw isFerryError(e) ? withWhere(e, `${ctx.file}:${ctx.line}`) : e;
    }
    const name = names[0];
    if (names.length !== 1 || name === undefined) continue;
    out.push({ word, name, chomp: m[2] === '-' });
  }
  return out;
}

function heredocError(node: RawNode, file: string): FerryError {
  const kw = (node.lower === 'onbuild' && node.child !== undefined ? node.child.keyword : node.keyword).toUpperCase();
  return fail('DOCKERFILE_HEREDOC', `${kw} at line ${node.line} uses a heredoc (${node.heredoc ?? '<<'}), which ferry's native builder does not support`, `${file}:${node.line}`, [
    kw === 'RUN' ? 'put the script in a file in the build context, COPY it and run it' : 'put the content in a file in the build context and COPY that file',
    ENGINE_HINT,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Pass 2: nodes into typed instructions (BuildKit instructions.Parse)

type FlagType = 'bool' | 'string' | 'strings';

interface Flags {
  strings: Map<string, string>;
  lists: Map<string, string[]>;
  bools: Map<string, boolean>;
}

function parseFlags(node: RawNode, spec: Record<string, FlagType>, where: string): Flags {
  const out: Flags = { strings: new Map(), lists: new Map(), bools: new Map() };
  const kw = node.keyword.toUpperCase();
  for (const a of node.flags) {
    if (a === '--') break;
    const body = a.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? '' : body.slice(eq + 1);
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (type === undefined) {
      const known = Object.keys(spec).map((k) => `--${k}`);
      const guess = closest(`--${name}`, known, true);
      throw fail('DOCKERFILE_UNKNOWN_FLAG', `unknown flag for ${kw}: --${name}`, where, [
        guess !== undefined ? `did you mean ${guess}?` : known.length > 0 ? `${kw} accepts ${known.join(', ')}` : `${kw} takes no flags; remove --${name}`,
      ]);
    }
    const used = out.strings.has(name) || out.bools.has(name);
    if (used) throw fail('DOCKERFILE_FLAG_VALUE', `duplicate flag specified: --${name}`, where, [`give --${name} once`]);
    if (type === 'bool') {
      if (eq >= 0 && value === '') throw fail('DOCKERFILE_FLAG_VALUE', `missing a value on flag: --${name}`, where, [`write --${name} or --${name}=true|false`]);
      const v = value.toLowerCase();
      if (v !== '' && v !== 'true' && v !== 'false') {
        throw fail('DOCKERFILE_FLAG_VALUE', `expecting boolean value for flag --${name}, not: ${value}`, where, [`write --${name}=true or --${name}=false`]);
      }
      out.bools.set(name, v !== 'false');
    } else {
      if (eq < 0) throw fail('DOCKERFILE_FLAG_VALUE', `missing a value on flag: --${name}`, where, [`Dockerfile flags need "=": --${name}=value`]);
      if (type === 'string') out.strings.set(name, value);
      else out.lists.set(name, [...(out.lists.get(name) ?? []), value]);
    }
  }
  return out;
}

function argCountError(kind: string, what: 'at least one' | 'exactly one', where: string): FerryError {
  return fail('DOCKERFILE_MISSING_ARGS', `${kind} requires ${what} argument`, where, [`see ${REFERENCE_URL}#${kind.toLowerCase()}`]);
}

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([+-]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (m === null) return undefined;
  const units: Record<string, bigint> = { ns: 1n, us: 1000n, µs: 1000n, μs: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
  let total = 0n;
  for (const part of (m[2] ?? '').matchAll(/([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/g)) {
    const unit = units[part[3] ?? ''] ?? 1n;
    const whole = BigInt(part[1] === '' || part[1] === undefined ? '0' : part[1]);
    total += whole * unit;
    const frac = part[2] ?? '';
    if (frac !== '') total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    if (total > 9_223_372_036_854_775_807n) return undefined;
  }
  return Number(m[1] === '-' ? -total : total);
}

function parseInterval(flags: Flags, name: string, where: string): number | undefined {
  const s = flags.strings.get(name);
  if (s === undefined || s === '') return undefined;
  const d = parseGoDuration(s);
  if (d === undefined) throw fail('DOCKERFILE_FLAG_VALUE', `invalid duration for HEALTHCHECK --${name}: "${s}"`, where, ['use a Go duration such as 30s, 1m30s or 500ms']);
  if (d === 0) return 0;
  if (d < 1_000_000) throw fail('DOCKERFILE_FLAG_VALUE', `HEALTHCHECK --${name} cannot be less than 1ms`, where, ['use at least 1ms, or 0 for the default']);
  return d;
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function base(node: RawNode): InstructionBase {
  return { keyword: node.keyword, line: node.line, endLine: node.endLine, original: node.original, flags: node.flags, ...(node.heredoc !== undefined ? { heredoc: node.heredoc } : {}) };
}

function parseInstruction(node: RawNode, file: string, warnings: ParseWarning[], heredocs: 'refuse' | 'allow'): Instruction {
  const instr = parseInstructionBody(node, file, warnings);
  // After the instruction's own checks, so that a bad flag on the same line is reported as Docker does.
  if (node.heredoc !== undefined && heredocs === 'refuse') throw heredocError(node, file);
  return instr;
}

function parseInstructionBody(node: RawNode, file: string, warnings: ParseWarning[]): Instruction {
  const where = `${file}:${node.line}`;
  const args = node.args;
  const b = base(node);
  switch (node.lower) {
    case 'from': {
      let stageName: string | undefined;
      if (args.length === 3 && (args[1] ?? '').toLowerCase() === 'as') {
        const written = args[2] ?? '';
        stageName = written.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw fail('DOCKERFILE_STAGE_NAME', `invalid name for build stage: "${written}", name can't start with a number or contain symbols`, where, [
            'stage names are letters, digits, "-", "_" and ".", starting with a letter',
          ]);
        }
        if (stageName !== written) {
          warnings.push({ code: 'DOCKERFILE_STAGE_NAME_CASING', line: node.line, message: `stage name "${written}" should be lowercase; Docker uses "${stageName}"` });
        }
      } else if (args.length !== 1) {
        throw fail(args.length === 0 ? 'DOCKERFILE_MISSING_ARGS' : 'DOCKERFILE_SYNTAX', 'FROM requires either one or three arguments', where, [
          'write FROM image[:tag] [AS name]',
        ]);
      }
      const f = parseFlags(node, { platform: 'string' }, where);
      const platform = f.strings.get('platform');
      return { ...b, kind: 'FROM', image: args[0] ?? '', ...(stageName !== undefined ? { stageName } : {}), ...(platform !== undefined ? { platform } : {}) };
    }
    case 'copy':
    case 'add': {
      const isAdd = node.lower === 'add';
      const kw = isAdd ? 'ADD' : 'COPY';
      if (args.length < 2) {
        throw fail('DOCKERFILE_MISSING_ARGS', `${kw} requires at least two arguments, but only one was provided. Destination could not be determined`, where, [
          `write ${kw} <source>... <destination>`,
        ]);
      }
      const common: Record<string, FlagType> = { chown: 'string', chmod: 'string', link: 'bool', exclude: 'strings' };
      const spec: Record<string, FlagType> = isAdd
        ? { ...common, 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool' }
        : { ...common, from: 'string', parents: 'bool' };
      const f = parseFlags(node, spec, where);
      const sources = args.slice(0, -1);
      const dest = args[args.length - 1] ?? '';
      const chown = f.strings.get('chown');
      const chmod = f.strings.get('chmod');
      const shared = {
        ...b,
        sources,
        dest,
        json: node.json,
        ...(chown !== undefined ? { chown } : {}),
        ...(chmod !== undefined ? { chmod } : {}),
        link: f.bools.get('link') ?? false,
        exclude: f.lists.get('exclude') ?? [],
      };
      if (isAdd) {
        const checksum = f.strings.get('checksum');
        const unpack = f.bools.get('unpack');
        const keepGitDir = f.bools.get('keep-git-dir');
        return {
          ...shared,
          kind: 'ADD',
          ...(keepGitDir !== undefined ? { keepGitDir } : {}),
          ...(checksum !== undefined ? { checksum } : {}),
          ...(unpack !== undefined ? { unpack } : {}),
        };
      }
      const from = f.strings.get('from');
      return { ...shared, kind: 'COPY', ...(from !== undefined ? { from } : {}), parents: f.bools.get('parents') ?? false };
    }
    case 'env':
    case 'label': {
      const kw = node.lower === 'env' ? 'ENV' : 'LABEL';
      parseFlags(node, {}, where);
      const pairs = node.pairs ?? [];
      if (pairs.length === 0) throw argCountError(kw, 'at least one', where);
      for (const p of pairs) {
        if (p.key === '') throw fail('DOCKERFILE_SYNTAX', `${kw} names can not be blank`, where, [`write ${kw} name=value`]);
        if (p.legacy) {
          warnings.push({
            code: 'DOCKERFILE_LEGACY_KEY_VALUE',
            line: node.line,
            message: `"${kw} key value" is a legacy form; write "${kw} key=value"`,
          });
        }
      }
      return node.lower === 'env' ? { ...b, kind: 'ENV', pairs } : { ...b, kind: 'LABEL', pairs };
    }
    case 'arg': {
      // BuildKit never parses ARG flags, so none are rejected here either.
      if (args.length < 1) throw argCountError('ARG', 'at least one', where);
      const decls = args.map((a): ArgDecl => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a };
        if (eq === 0) throw fail('DOCKERFILE_SYNTAX', 'ARG names can not be blank', where, ['write ARG name or ARG name=default']);
        return { key: a.slice(0, eq), default: a.slice(eq + 1) };
      });
      return { ...b, kind: 'ARG', args: decls };
    }
    case 'workdir':
    case 'user':
    case 'maintainer': {
      const kw = node.lower.toUpperCase();
      if (args.length !== 1) throw argCountError(kw, 'exactly one', where);
      parseFlags(node, {}, where);
      const v = args[0] ?? '';
      if (node.lower === 'workdir') return { ...b, kind: 'WORKDIR', path: v };
      if (node.lower === 'user') return { ...b, kind: 'USER', user: v };
      warnings.push({ code: 'DOCKERFILE_MAINTAINER_DEPRECATED', line: node.line, message: 'MAINTAINER is deprecated; use LABEL org.opencontainers.image.authors=...' });
      return { ...b, kind: 'MAINTAINER', maintainer: v };
    }
    case 'stopsignal':
      // BuildKit does not parse STOPSIGNAL flags; they are silently ignored there too.
      if (args.length !== 1) throw argCountError('STOPSIGNAL', 'exactly one', where);
      return { ...b, kind: 'STOPSIGNAL', signal: args[0] ?? '' };
    case 'run': {
      const f = parseFlags(node, { mount: 'strings', network: 'string', security: 'string', device: 'strings' }, where);
      const network = f.strings.get('network');
      const security = f.strings.get('security');
      return {
        ...b,
        kind: 'RUN',
        command: shellArgs(args, node.json),
        json: node.json,
        mounts: f.lists.get('mount') ?? [],
        ...(network !== undefined ? { network } : {}),
        ...(security !== undefined ? { security } : {}),
        devices: f.lists.get('device') ?? [],
      };
    }
    case 'cmd':
      parseFlags(node, {}, where);
      return { ...b, kind: 'CMD', command: shellArgs(args, node.json), json: node.json };
    case 'entrypoint':
      parseFlags(node, {}, where);
      return { ...b, kind: 'ENTRYPOINT', command: shellArgs(args, node.json), json: node.json };
    case 'shell': {
      parseFlags(node, {}, where);
      if (args.length === 0) throw argCountError('SHELL', 'at least one', where);
      if (!node.json) {
        throw fail('DOCKERFILE_BAD_JSON', 'SHELL requires the arguments to be in JSON form', where, ['write SHELL ["/bin/bash", "-c"]']);
      }
      return { ...b, kind: 'SHELL', shell: args };
    }
    case 'expose': {
      if (args.length === 0) throw argCountError('EXPOSE', 'at least one', where);
      parseFlags(node, {}, where);
      // Go's sort.Strings, byte order; Docker sorts the words before expanding them.
      const ports = [...args].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      return { ...b, kind: 'EXPOSE', ports };
    }
    case 'volume': {
      if (args.length === 0) throw argCountError('VOLUME', 'at least one', where);
      parseFlags(node, {}, where);
      const volumes = args.map((v) => trimGo(v));
      if (volumes.some((v) => v === '')) throw fail('DOCKERFILE_SYNTAX', 'VOLUME specified can not be an empty string', where, ['remove the empty path']);
      return { ...b, kind: 'VOLUME', volumes, json: node.json };
    }
    case 'healthcheck':
      return parseHealthcheck(node, b, where);
    case 'onbuild': {
      if (args.length === 0) throw argCountError('ONBUILD', 'at least one', where);
      parseFlags(node, {}, where);
      const trigger = trimGo(args[0] ?? '').toUpperCase();
      if (trigger === 'ONBUILD') throw fail('DOCKERFILE_SYNTAX', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", where, ['remove the second ONBUILD']);
      if (trigger === 'MAINTAINER' || trigger === 'FROM') {
        throw fail('DOCKERFILE_SYNTAX', `${trigger} isn't allowed as an ONBUILD trigger`, where, ['an image built on this one starts with its own FROM; remove this ONBUILD']);
      }
      const expression = node.original.replace(/^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i, '');
      return { ...b, kind: 'ONBUILD', trigger, expression };
    }
    default: {
      const guess = closest(node.keyword.toUpperCase(), INSTRUCTION_NAMES, true);
      throw fail('DOCKERFILE_UNKNOWN_INSTRUCTION', `unknown instruction: ${node.keyword.toUpperCase()}`, where, [
        guess !== undefined ? `did you mean ${guess}?` : `see ${REFERENCE_URL} for the instructions Docker knows`,
      ]);
    }
  }
}

/** BuildKit's handleJSONArgs: exec form keeps the array, shell form is one string. */
function shellArgs(args: string[], json: boolean): string[] {
  if (json) return args;
  return args.length === 0 ? [] : [args.join(' ')];
}

function parseHealthcheck(node: RawNode, b: InstructionBase, where: string): HealthcheckInstruction {
  const args = node.args;
  if (args.length === 0) throw argCountError('HEALTHCHECK', 'at least one', where);
  const typ = (args[0] ?? '').toUpperCase();
  const rest = args.slice(1);
  if (typ === 'NONE') {
    // BuildKit does not look at flags for NONE.
    if (rest.length !== 0) throw fail('DOCKERFILE_SYNTAX', 'HEALTHCHECK NONE takes no arguments', where, ['write just HEALTHCHECK NONE']);
    return { ...b, kind: 'HEALTHCHECK', test: ['NONE'] };
  }
  const f = parseFlags(node, { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' }, where);
  if (typ !== 'CMD') throw fail('DOCKERFILE_SYNTAX', `Unknown type "${typ}" in HEALTHCHECK (try CMD)`, where, ['write HEALTHCHECK [options] CMD command, or HEALTHCHECK NONE']);
  const cmd = shellArgs(rest, node.json);
  if (cmd.length === 0) throw fail('DOCKERFILE_MISSING_ARGS', 'Missing command after HEALTHCHECK CMD', where, ['write HEALTHCHECK CMD curl -f http://localhost/ || exit 1']);
  const test = [node.json ? 'CMD' : 'CMD-SHELL', ...cmd];
  const interval = parseInterval(f, 'interval', where);
  const timeout = parseInterval(f, 'timeout', where);
  const startPeriod = parseInterval(f, 'start-period', where);
  const startInterval = parseInterval(f, 'start-interval', where);
  let retries: number | undefined;
  const r = f.strings.get('retries');
  if (r !== undefined && r !== '') {
    if (!/^[+-]?[0-9]+$/.test(r) || Math.abs(Number(r)) > 2 ** 31 - 1) {
      throw fail('DOCKERFILE_FLAG_VALUE', `invalid HEALTHCHECK --retries "${r}"`, where, ['use a whole number such as 3']);
    }
    retries = Number(r);
    if (retries < 0) throw fail('DOCKERFILE_FLAG_VALUE', `--retries cannot be negative (${r})`, where, ['use 0 or more']);
  }
  return {
    ...b,
    kind: 'HEALTHCHECK',
    test,
    ...(interval !== undefined ? { interval } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(startPeriod !== undefined ? { startPeriod } : {}),
    ...(startInterval !== undefined ? { startInterval } : {}),
    ...(retries !== undefined ? { retries } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Public: parse

const STABLE_SYNTAX = /^(?:docker\.io\/)?docker\/dockerfile:1(?:\.[0-9]+){0,2}(?:@sha256:[0-9a-f]{64})?$/;

/** Parse a Dockerfile. Throws a FerryError (exit 65) with a DOCKERFILE_* code on bad input. */
export function parseDockerfile(text: string, opts: ParseOptions = {}): Dockerfile {
  const file = opts.file ?? 'Dockerfile';
  const warnings: ParseWarning[] = [];
  const { escape, directives, nodes } = parseLines(text, file, warnings);
  const syntax = directives.find((d) => d.name === 'syntax');
  if (syntax !== undefined && !STABLE_SYNTAX.test(syntax.value.split(/\s/)[0] ?? '')) {
    warnings.push({
      code: 'DOCKERFILE_SYNTAX_IGNORED',
      line: syntax.line,
      message: `ferry parses the stable Dockerfile syntax itself; the frontend "${syntax.value}" named by # syntax= is not used`,
    });
  }
  if (nodes.length === 0) {
    throw fail('DOCKERFILE_EMPTY', 'the Dockerfile has no instructions', `${file}:1`, ['start the Dockerfile with FROM <image> (or FROM scratch)']);
  }

  const instructions: Instruction[] = [];
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, number>();
  for (const node of nodes) {
    const instr = parseInstruction(node, file, warnings, opts.heredocs ?? 'refuse');
    instructions.push(instr);
    if (instr.kind === 'FROM') {
      const index = stages.length;
      if (instr.stageName !== undefined) {
        const prior = names.get(instr.stageName);
        if (prior !== undefined) {
          throw fail('DOCKERFILE_DUPLICATE_STAGE', `duplicate stage name "${instr.stageName}" (first used at line ${stages[prior]?.from.line ?? 0})`, `${file}:${instr.line}`, [
            'give each stage its own name',
          ]);
        }
        names.set(instr.stageName, index);
      }
      stages.push({
        index,
        ...(instr.stageName !== undefined ? { name: instr.stageName } : {}),
        from: instr,
        baseName: instr.image,
        ...(instr.platform !== undefined ? { platform: instr.platform } : {}),
        instructions: [],
      });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (instr.kind === 'ARG') {
        metaArgs.push(instr);
        continue;
      }
      throw fail('DOCKERFILE_INSTRUCTION_BEFORE_FROM', `${instr.kind} at line ${instr.line} comes before the first FROM; only ARG may`, `${file}:${instr.line}`, [
        'move it after a FROM line: every stage starts with FROM',
      ]);
    }
    current.instructions.push(instr);
  }
  if (stages.length === 0) {
    throw fail('DOCKERFILE_EMPTY', 'the Dockerfile has no FROM, so there is no stage to build', `${file}:${metaArgs[0]?.line ?? 1}`, [
      'add FROM <image> (or FROM scratch) after the global ARGs',
    ]);
  }
  for (const stage of stages) warnRepeated(stage, warnings);

  return {
    file,
    escapeToken: escape,
    directives,
    ...(syntax !== undefined ? { syntax: syntax.value } : {}),
    instructions,
    metaArgs,
    stages,
    warnings,
  };
}

/** BuildKit's MultipleInstructionsDisallowed check: only the last CMD/ENTRYPOINT/HEALTHCHECK counts. */
function warnRepeated(stage: Stage, warnings: ParseWarning[]): void {
  for (const kind of ['CMD', 'ENTRYPOINT', 'HEALTHCHECK'] as const) {
    const all = stage.instructions.filter((i) => i.kind === kind);
    for (const i of all.slice(0, -1)) {
      warnings.push({ code: 'DOCKERFILE_REPEATED_INSTRUCTION', line: i.line, message: `${kind} is given more than once in this stage; only the last one takes effect` });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stages, targets and build-time variables

export type StageBase = { kind: 'scratch' } | { kind: 'stage'; index: number; name: string } | { kind: 'image'; ref: string };

export interface ResolvedStage extends Stage {
  /** FROM's base after global ARG expansion. */
  resolvedBaseName: string;
  base: StageBase;
  /** FROM --platform after global ARG expansion. */
  resolvedPlatform?: string;
  /** Indices of the stages this one needs (its base stage and COPY --from stages). */
  dependsOn: number[];
}

export type CopySource = { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

export interface BuildPlanOptions {
  /** `--target`: a stage name (case-insensitive). Default: the last stage. */
  target?: string;
  /** `--build-arg` values. */
  buildArgs?: EnvSource;
  /** Automatic platform ARGs (see platformArgs); they can be overridden by build args. */
  builtinArgs?: EnvSource;
}

export interface BuildPlan {
  dockerfile: Dockerfile;
  /** What FROM lines see: automatic platform ARGs and the global ARGs. */
  globalArgs: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  stages: ResolvedStage[];
  target: ResolvedStage;
  /** The stages the target needs, in build order, the target last. */
  required: ResolvedStage[];
}

function toMap(env: EnvSource | undefined): Map<string, string> {
  if (env === undefined) return new Map();
  if (env instanceof Map) return new Map(env as ReadonlyMap<string, string>);
  return new Map(Object.entries(env as Readonly<Record<string, string>>));
}

function expandAt(word: string, env: EnvSource, escapeToken: EscapeToken, where: string): string {
  try {
    return expandWord(word, env, { escapeToken });
  } catch (e) {
    throw isFerryError(e) ? withWhere(e, where) : e;
  }
}

/** Find a stage by name (case-insensitive) or index. */
export function findStage(df: Dockerfile, nameOrIndex: string | number): Stage | undefined {
  if (typeof nameOrIndex === 'number') return df.stages[nameOrIndex];
  const lower = nameOrIndex.toLowerCase();
  return df.stages.find((s) => s.name === lower);
}

/** The stage `--target` names (the last stage when undefined); DOCKERFILE_STAGE_NOT_FOUND otherwise. */
export function selectTarget(df: Dockerfile, target?: string): Stage {
  if (target === undefined || target === '') {
    const last = df.stages[df.stages.length - 1];
    if (last === undefined) throw fail('DOCKERFILE_EMPTY', 'the Dockerfile has no stages', `${df.file}:1`);
    return last;
  }
  const found = findStage(df, target);
  if (found !== undefined) return found;
  const names = df.stages.flatMap((s) => (s.name !== undefined ? [s.name] : []));
  const guess = closest(target.toLowerCase(), names);
  throw dataError('DOCKERFILE_STAGE_NOT_FOUND', `target stage "${target}" could not be found in ${df.file}`, {
    where: df.file,
    suggestions: [guess !== undefined ? `did you mean "${guess}"?` : names.length > 0 ? `the named stages are: ${names.join(', ')}` : 'name a stage with FROM <image> AS <name>'],
    details: { target, stages: names },
  });
}

/**
 * The automatic platform ARGs (BUILDPLATFORM, TARGETARCH, ...) for platforms written as
 * "os/arch[/variant]", normalised as containerd does (aarch64 is arm64, arm64/v8 is arm64).
 */
export function platformArgs(opts: { buildPlatform: string; targetPlatform: string; targetStage?: string }): Map<string, string> {
  const bp = normalizePlatform(opts.buildPlatform);
  const tp = normalizePlatform(opts.targetPlatform);
  const fmt = (p: typeof bp): string => [p.os, p.arch, ...(p.variant !== '' ? [p.variant] : [])].join('/');
  return new Map([
    ['BUILDPLATFORM', fmt(bp)],
    ['BUILDOS', bp.os],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', bp.arch],
    ['BUILDVARIANT', bp.variant],
    ['TARGETPLATFORM', fmt(tp)],
    ['TARGETOS', tp.os],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', tp.arch],
    ['TARGETVARIANT', tp.variant],
    // Left out unless given, so that resolveBuildPlan fills in the stage it selects.
    ...(opts.targetStage !== undefined ? [['TARGETSTAGE', opts.targetStage] as [string, string]] : []),
  ]);
}

function normalizePlatform(p: string): { os: string; arch: string; variant: string } {
  const [os = 'linux', archIn = '', variantIn = ''] = p.toLowerCase().split('/');
  let arch = archIn;
  let variant = variantIn;
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  if (arch === 'i386' || arch === 'i686') arch = '386';
  if (arch === 'aarch64') arch = 'arm64';
  if (arch === 'armhf') [arch, variant] = ['arm', 'v7'];
  if (arch === 'armel') [arch, variant] = ['arm', 'v6'];
  if (arch === 'amd64' && variant === 'v1') variant = '';
  if (arch === 'arm64' && (variant === 'v8' || variant === '8' || variant === 'v8.0')) variant = '';
  if (arch === 'arm' && variant === '') variant = 'v7';
  if (arch === 'arm' && /^[5-8]$/.test(variant)) variant = `v${variant}`;
  return { os, arch, variant };
}

/**
 * Resolve what a build needs: global ARGs (for FROM lines), each stage's base (scratch, an earlier
 * stage or an image) and platform, the target and the stages it depends on.
 */
export function resolveBuildPlan(df: Dockerfile, opts: BuildPlanOptions = {}): BuildPlan {
  const buildArgs = toMap(opts.buildArgs);
  const targetStage = selectTarget(df, opts.target);
  const builtins = toMap(opts.builtinArgs);
  if (!builtins.has('TARGETSTAGE')) builtins.set('TARGETSTAGE', targetStage.name ?? '');

  // BuildKit's defaultArgs + buildMetaArgs: automatic ARGs (overridable), then the global ARGs in
  // order, each default expanded with what came before; an ARG without value stays unset.
  const globalArgs = new Map<string, string>();
  for (const [k, v] of builtins) globalArgs.set(k, buildArgs.get(k) ?? v);
  for (const meta of df.metaArgs) {
    for (const decl of meta.args) {
      const given = buildArgs.get(decl.key);
      let value: string | undefined;
      if (given !== undefined) value = given;
      else if (decl.default !== undefined) value = expandAt(decl.default, globalArgs, df.escapeToken, `${df.file}:${meta.line}`);
      if (value !== undefined) globalArgs.set(decl.key, value);
    }
  }

  const byName = new Map<string, number>();
  const stages: ResolvedStage[] = df.stages.map((s) => {
    const where = `${df.file}:${s.from.line}`;
    const resolvedBaseName = expandAt(s.baseName, globalArgs, df.escapeToken, where);
    if (resolvedBaseName === '') {
      throw fail('DOCKERFILE_BAD_BASE', `base name (${s.baseName}) should not be blank`, where, [
        'give the ARG used in FROM a default, or pass it with --build-arg',
      ]);
    }
    let resolvedPlatform: string | undefined;
    if (s.platform !== undefined) {
      resolvedPlatform = expandAt(s.platform, globalArgs, df.escapeToken, where);
      if (resolvedPlatform === '') {
        throw fail('DOCKERFILE_BAD_PLATFORM', `empty platform value from expression ${s.platform}`, where, [
          'set the ARG used in --platform, or use $BUILDPLATFORM/$TARGETPLATFORM',
        ]);
      }
    }
    // BuildKit matches FROM against earlier stage names exactly (stage names are lowercase).
    const baseIndex = byName.get(resolvedBaseName);
    const stageBase: StageBase =
      baseIndex !== undefined
        ? { kind: 'stage', index: baseIndex, name: resolvedBaseName }
        : resolvedBaseName === 'scratch'
          ? { kind: 'scratch' }
          : { kind: 'image', ref: resolvedBaseName };
    if (s.name !== undefined) byName.set(s.name, s.index);
    return {
      ...s,
      resolvedBaseName,
      base: stageBase,
      ...(resolvedPlatform !== undefined ? { resolvedPlatform } : {}),
      dependsOn: baseIndex !== undefined ? [baseIndex] : [],
    };
  });

  // COPY --from: an index must exist; a name may be any stage (else it is an image).
  const forward: { stage: ResolvedStage; to: number; line: number }[] = [];
  for (const s of stages) {
    for (const i of s.instructions) {
      if (i.kind !== 'COPY' || i.from === undefined) continue;
      const src = copySourceIn(df, stages, i);
      if (src.kind !== 'stage') continue;
      if (!s.dependsOn.includes(src.index)) s.dependsOn.push(src.index);
      if (src.index > s.index) forward.push({ stage: s, to: src.index, line: i.line });
    }
  }
  detectCycle(df, stages);

  const target = stages[targetStage.index];
  if (target === undefined) throw fail('DOCKERFILE_STAGE_NOT_FOUND', 'target stage not found', df.file);
  const needed = new Set<number>();
  const visit = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of stages[i]?.dependsOn ?? []) visit(d);
  };
  visit(target.index);
  const required = stages.filter((s) => needed.has(s.index));
  // Docker builds stages in file order, so a stage can only copy from stages above it.
  const bad = forward.find((f) => needed.has(f.stage.index));
  if (bad !== undefined) {
    throw fail('DOCKERFILE_STAGE_ORDER', `stage ${stageLabel(bad.stage)} copies from stage ${stageLabel(stages[bad.to])}, which needs to be defined before it`, `${df.file}:${bad.line}`, [
      'move the stage you copy from above this one',
    ]);
  }
  return { dockerfile: df, globalArgs, buildArgs, stages, target, required };
}

function stageLabel(s: Stage | undefined): string {
  if (s === undefined) return '?';
  return s.name !== undefined ? `"${s.name}"` : String(s.index);
}

function copySourceIn(df: Dockerfile, stages: readonly Stage[], copy: CopyInstruction): CopySource {
  const from = copy.from ?? '';
  // BuildKit resolves --from before any variable is known, and refuses anything expansion would change.
  if (expandAt(from, new Map(), df.escapeToken, `${df.file}:${copy.line}`) !== from) {
    throw fail('DOCKERFILE_FLAG_VALUE', `variable expansion is not supported for --from (${from})`, `${df.file}:${copy.line}`, [
      'define a stage with FROM ${YOUR_ARG} AS src (global ARGs work in FROM) and use COPY --from=src',
    ]);
  }
  if (/^[+-]?[0-9]+$/.test(from) && Number.isSafeInteger(Number(from))) {
    const index = Number(from);
    if (index < 0 || index >= stages.length) {
      throw fail('DOCKERFILE_STAGE_NOT_FOUND', `invalid stage index ${index} in COPY --from`, `${df.file}:${copy.line}`, [
        `stages are numbered from 0 to ${stages.length - 1}; or name the stage with FROM ... AS <name>`,
      ]);
    }
    return { kind: 'stage', index };
  }
  const lower = from.toLowerCase();
  const s = stages.find((st) => st.name === lower);
  return s !== undefined ? { kind: 'stage', index: s.index } : { kind: 'image', ref: from };
}

/** Where a COPY --from reads: a stage of the plan or an image. */
export function resolveCopySource(plan: BuildPlan, copy: CopyInstruction): CopySource | undefined {
  if (copy.from === undefined) return undefined;
  return copySourceIn(plan.dockerfile, plan.stages, copy);
}

/** `type=bind,source=x,target=/y` (RUN --mount) as a map; `src`/`source`, `dst`/`target` both kept. */
export function parseMountSpec(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
    else if (part.trim() !== '') out.set(part.trim().toLowerCase(), 'true');
  }
  return out;
}

/** An image (not a stage) a build reads: a FROM base, a COPY --from, a RUN --mount from=. */
export interface ExternalImage {
  ref: string;
  line: number;
  via: 'from' | 'copy' | 'mount';
  /** RUN --mount only: its type (bind when not given). */
  mountType?: string;
}

/**
 * The images `stages` read, in order: their FROM images first, then, instruction by instruction
 * (up to `untilLine`), COPY --from and RUN --mount from= images. Stage names and indices are not
 * images; `scratch` is nothing to pull. Repeats are kept (callers hash them in order).
 * Default stages: those the target needs, and those its RUN --mount from= name (transitively).
 */
export function externalImages(plan: BuildPlan, opts: { stages?: readonly ResolvedStage[]; untilLine?: number } = {}): ExternalImage[] {
  const stageNamed = (from: string): ResolvedStage | undefined => plan.stages.find((st) => st.name === from.toLowerCase() || String(st.index) === from);
  const stages = opts.stages ?? mountClosure(plan, stageNamed);
  const until = opts.untilLine ?? Number.POSITIVE_INFINITY;
  const out: ExternalImage[] = [];
  for (const s of stages) if (s.base.kind === 'image') out.push({ ref: s.base.ref, line: s.from.line, via: 'from' });
  for (const s of stages) {
    for (const i of s.instructions) {
      if (i.line > until) break;
      if (i.kind === 'COPY' && i.from !== undefined) {
        const src = resolveCopySource(plan, i);
        if (src?.kind === 'image') out.push({ ref: src.ref, line: i.line, via: 'copy' });
      } else if (i.kind === 'RUN') {
        for (const m of i.mounts) {
          const f = parseMountSpec(m);
          const from = f.get('from');
          if (from === undefined || from === '' || stageNamed(from) !== undefined) continue;
          out.push({ ref: from, line: i.line, via: 'mount', mountType: f.get('type') ?? 'bind' });
        }
      }
    }
  }
  return out;
}

/** plan.required, plus the stages RUN --mount from= reaches (the plan's dependencies omit them). */
function mountClosure(plan: BuildPlan, stageNamed: (from: string) => ResolvedStage | undefined): ResolvedStage[] {
  const needed = new Set(plan.required.map((s) => s.index));
  const visit = (s: ResolvedStage): void => {
    for (const d of s.dependsOn) {
      const st = plan.stages[d];
      if (st !== undefined && !needed.has(d)) {
        needed.add(d);
        visit(st);
      }
    }
    for (const i of s.instructions) {
      if (i.kind !== 'RUN') continue;
      for (const m of i.mounts) {
        const from = parseMountSpec(m).get('from');
        const st = from === undefined ? undefined : stageNamed(from);
        if (st !== undefined && !needed.has(st.index)) {
          needed.add(st.index);
          visit(st);
        }
      }
    }
  };
  for (const s of plan.required) visit(s);
  return plan.stages.filter((s) => needed.has(s.index));
}

function detectCycle(df: Dockerfile, stages: readonly ResolvedStage[]): void {
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number): void => {
    const st = state.get(i);
    if (st === 'done') return;
    const s = stages[i];
    if (st === 'visiting' || s === undefined) {
      throw fail('DOCKERFILE_STAGE_CYCLE', `circular dependency detected on stage: ${stageLabel(s)}`, `${df.file}:${s?.from.line ?? 1}`, [
        'a stage cannot copy from itself or from a stage that builds on it',
      ]);
    }
    state.set(i, 'visiting');
    for (const d of s.dependsOn) visit(d);
    state.set(i, 'done');
  };
  for (const s of stages) visit(s.index);
}

/** BuildKit's default PATH for Linux images, added when the base image sets none. */
export const DEFAULT_LINUX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface StageScopeOptions {
  /** The plan's global ARGs (what a stage's `ARG NAME` without default inherits). */
  globalArgs: ReadonlyMap<string, string>;
  buildArgs?: EnvSource;
  escapeToken?: EscapeToken;
  file?: string;
}

/**
 * The variables of one stage while it is built, as BuildKit tracks them: expansion sees the
 * stage's environment (the base image's Env, then ENV and ARG values in instruction order), while
 * the image config only records ENV. Call `apply` on each instruction in order; it returns the
 * instruction with Docker's expansions done and updates the scope for ENV and ARG.
 */
export class StageScope {
  private readonly vars: Map<string, string>;
  private readonly config: Map<string, string>;
  private readonly buildArgs: ReadonlyMap<string, string>;
  private readonly escapeToken: EscapeToken;
  private readonly file: string;

  private constructor(
    private readonly opts: StageScopeOptions,
    vars: Map<string, string>,
    config: Map<string, string>,
  ) {
    this.vars = vars;
    this.config = config;
    this.buildArgs = toMap(opts.buildArgs);
    this.escapeToken = opts.escapeToken ?? '\\';
    this.file = opts.file ?? 'Dockerfile';
  }

  /** A stage on an image (or scratch): starts from the image's `Env` ("K=V" strings); PATH is ensured. */
  static fromImage(imageEnv: readonly string[], opts: StageScopeOptions): StageScope {
    const env = new Map<string, string>();
    for (const kv of imageEnv) {
      const eq = kv.indexOf('=');
      if (eq < 0) env.set(kv, '');
      else env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    if (!env.has('PATH')) env.set('PATH', DEFAULT_LINUX_PATH);
    return new StageScope(opts, new Map(env), new Map(env));
  }

  /** A scope holding exactly `env` (no PATH added). */
  static fromEnv(env: EnvSource, opts: StageScopeOptions): StageScope {
    const m = toMap(env);
    return new StageScope(opts, m, new Map(m));
  }

  /**
   * A scope for a stage built on an image or scratch (pass the image's Env), with the plan's
   * global ARGs and build args. For `FROM <stage>` use that stage's scope.child() instead: Docker
   * carries the parent stage's ENV and ARG values over.
   */
  static fromPlan(plan: BuildPlan, imageEnv: readonly string[] = []): StageScope {
    return StageScope.fromImage(imageEnv, {
      globalArgs: plan.globalArgs,
      buildArgs: plan.buildArgs,
      escapeToken: plan.dockerfile.escapeToken,
      file: plan.dockerfile.file,
    });
  }

  /** A scope for a stage whose base is this stage. */
  child(): StageScope {
    return new StageScope(this.opts, new Map(this.vars), new Map(this.config));
  }

  /** What `$NAME` sees now. */
  get env(): ReadonlyMap<string, string> {
    return this.vars;
  }

  /** The image config's Env as "K=V" strings, in the order the keys were first set. */
  get configEnv(): string[] {
    return [...this.config].map(([k, v]) => `${k}=${v}`);
  }

  /** Expand a word with the stage's variables, as COPY/WORKDIR/... do. */
  expand(word: string, line: number): string {
    return expandAt(word, this.vars, this.escapeToken, `${this.file}:${line}`);
  }

  apply<T extends Instruction>(instr: T): T {
    // Each branch returns the same kind it was given; TypeScript cannot follow that through T.
    return this.applyAny(instr) as T;
  }

  private applyAny(i: Instruction): Instruction {
    const x = (w: string): string => this.expand(w, i.line);
    switch (i.kind) {
      case 'ENV': {
        // All pairs see the environment from before this ENV (`ENV a=1 b=$a` gives b the old a).
        const pairs = i.pairs.map((p) => ({ ...p, key: x(p.key), value: x(p.value) }));
        for (const p of pairs) {
          this.vars.set(p.key, p.value);
          this.config.set(p.key, p.value);
        }
        return { ...i, pairs };
      }
      case 'LABEL':
        return { ...i, pairs: i.pairs.map((p) => ({ ...p, key: x(p.key), value: x(p.value) })) };
      case 'ARG': {
        const args = i.args.map((d): ArgDecl => {
          const given = this.buildArgs.get(d.key);
          let value: string | undefined;
          if (given !== undefined) value = given;
          else if (d.default !== undefined) value = x(d.default);
          else value = this.opts.globalArgs.get(d.key);
          if (value !== undefined) this.vars.set(d.key, value);
          return { ...d, ...(value !== undefined ? { value } : {}) };
        });
        return { ...i, args };
      }
      case 'COPY': {
        // --from is left alone: resolveBuildPlan already refused variables in it.
        const out: CopyInstruction = {
          ...i,
          sources: i.sources.map(x),
          dest: x(i.dest),
          ...(i.chown !== undefined ? { chown: x(i.chown) } : {}),
          ...(i.chmod !== undefined ? { chmod: x(i.chmod) } : {}),
        };
        const remote = out.sources.find(isRemoteSource);
        if (remote !== undefined) {
          throw fail('DOCKERFILE_COPY_URL', `source can't be a URL or git ref for COPY: ${remote}`, `${this.file}:${i.line}`, [
            'COPY only copies from the context or another stage; download the file into the context first',
          ]);
        }
        return out;
      }
      case 'ADD': {
        const out: AddInstruction = {
          ...i,
          sources: i.sources.map(x),
          dest: x(i.dest),
          ...(i.chown !== undefined ? { chown: x(i.chown) } : {}),
          ...(i.chmod !== undefined ? { chmod: x(i.chmod) } : {}),
          ...(i.checksum !== undefined ? { checksum: x(i.checksum) } : {}),
        };
        if (out.checksum !== undefined && out.checksum !== '') {
          // The checks BuildKit makes when it dispatches ADD --checksum (digest syntax is checked
          // for http(s) sources only; a git source takes a commit checksum).
          const src = out.sources[0] ?? '';
          const why =
            out.sources.length !== 1
              ? "checksum can't be specified for multiple sources"
              : !isRemoteSource(src)
                ? 'checksum requires HTTP(S) or Git sources'
                : /^https?:\/\//.test(src) && !/\.git(?:$|[#?])/.test(src) && !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(out.checksum)
                  ? `invalid checksum digest format: ${out.checksum}`
                  : undefined;
          if (why !== undefined) throw fail('DOCKERFILE_FLAG_VALUE', why, `${this.file}:${i.line}`, ['use ADD --checksum=sha256:<hex> with a single http(s) or git source']);
        }
        return out;
      }
      case 'EXPOSE':
        return {
          ...i,
          ports: i.ports.flatMap((p) => {
            try {
              return expandWords(p, this.vars, { escapeToken: this.escapeToken });
            } catch (e) {
              throw isFerryError(e) ? withWhere(e, `${this.file}:${i.line}`) : e;
            }
          }),
        };
      case 'WORKDIR':
        return { ...i, path: x(i.path) };
      case 'USER':
        return { ...i, user: x(i.user) };
      case 'STOPSIGNAL':
        return { ...i, signal: x(i.signal) };
      case 'VOLUME':
        return { ...i, volumes: i.volumes.map(x) };
      default:
        return i;
    }
  }
}

/** Expand one instruction with a given environment (see StageScope for the stateful version). */
export function expandInstruction<T extends Instruction>(instr: T, env: EnvSource, opts: { escapeToken?: EscapeToken; file?: string } = {}): T {
  const scope = StageScope.fromEnv(env, {
    globalArgs: new Map(),
    ...(opts.escapeToken !== undefined ? { escapeToken: opts.escapeToken } : {}),
    ...(opts.file !== undefined ? { file: opts.file } : {}),
  });
  return scope.apply(instr);
}

/**
 * The argv an exec- or shell-form CMD/ENTRYPOINT/RUN stands for: exec form as is, shell form
 * wrapped in the stage's SHELL (default /bin/sh -c), as BuildKit's withShell does.
 */
export function commandLine(i: { command: string[]; json: boolean }, shell: readonly string[] = ['/bin/sh', '-c']): string[] {
  return i.json ? [...i.command] : [...shell, i.command.join(' ')];
}

/**
 * EXPOSE words as the image config's ExposedPorts keys ("80/tcp"), as BuildKit parses them:
 * ranges expand, the protocol defaults to tcp.
 */
export function parseExposedPorts(words: readonly string[], where = 'EXPOSE'): string[] {
  const out: string[] = [];
  const bad = (msg: string): FerryError => fail('DOCKERFILE_BAD_PORT', msg, where, ['write EXPOSE 80, 80/udp or 8000-8010/tcp']);
  for (const raw of words) {
    const parts = raw.split(':');
    const container = parts[parts.length - 1] ?? '';
    const slash = container.indexOf('/');
    const port = slash < 0 ? container : container.slice(0, slash);
    const proto = slash < 0 ? 'tcp' : container.slice(slash + 1).toLowerCase() || 'tcp';
    if (port === '') throw bad(`no port specified: ${raw}<empty>`);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw bad(`invalid proto: ${proto}`);
    const range = /^([0-9]+)(?:-([0-9]+))?$/.exec(port);
    if (range === null) throw bad(`invalid containerPort: ${port}`);
    const start = Number(range[1]);
    const end = range[2] === undefined ? start : Number(range[2]);
    if (start > 65535 || end > 65535 || end < start) throw bad(`invalid containerPort: ${port}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Native buildability

/** Features a native builder may declare it supports, beyond the always-supported set. */
export type NativeFeature = 'copy-parents' | 'copy-exclude';

export interface NativeBlocker {
  stage: ResolvedStage;
  instruction: Instruction;
  /** Why it needs an engine, for a person. */
  reason: string;
  suggestions: string[];
}

/** A URL or git source, which ADD downloads (Docker: http(s), git, ssh URLs, and git@host:repo). */
export function isRemoteSource(src: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(src) || /^[^/@:\s]+@[^/:\s]+:/.test(src);
}

const ARCHIVE_SUFFIXES = ['.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tbz2', '.tbz', '.tar.xz', '.txz', '.tar.zst', '.tzst'];

/**
 * A local ADD source Docker would unpack. Docker decides by content (any tar, optionally
 * gzip/bzip2/xz/zstd compressed); by name is what can be known before reading the file.
 */
export function isLocalArchiveName(src: string): boolean {
  const lower = src.toLowerCase();
  return ARCHIVE_SUFFIXES.some((s) => lower.endsWith(s));
}

function blockerFor(i: Instruction, allow: ReadonlySet<NativeFeature>): Omit<NativeBlocker, 'stage' | 'instruction'> | undefined {
  if (i.heredoc !== undefined) {
    return { reason: `it uses a heredoc (${i.heredoc}), which only an engine builds`, suggestions: ['move the content into a file in the build context, or ' + ENGINE_HINT] };
  }
  switch (i.kind) {
    case 'RUN':
      return { reason: 'RUN executes a command inside the image, which needs a container engine', suggestions: [ENGINE_HINT] };
    case 'ONBUILD':
      return { reason: 'ONBUILD records a trigger that only an engine build runs', suggestions: ['remove ONBUILD, or ' + ENGINE_HINT] };
    case 'ADD': {
      const remote = i.sources.find(isRemoteSource);
      if (remote !== undefined) {
        return {
          reason: `ADD downloads ${remote}, which the native builder does not do`,
          suggestions: ['download the file into the build context first and COPY it', ENGINE_HINT],
        };
      }
      const archive = i.unpack === false ? undefined : i.sources.find(isLocalArchiveName);
      if (archive !== undefined) {
        return {
          reason: `ADD unpacks the local archive ${archive}, which the native builder does not do`,
          suggestions: ['unpack it into the build context and COPY the directory, or use ADD --unpack=false to copy the file as is', ENGINE_HINT],
        };
      }
      if (i.exclude.length > 0 && !allow.has('copy-exclude')) {
        return { reason: 'ADD --exclude is not supported by the native builder yet', suggestions: ['list the wanted sources explicitly, or ' + ENGINE_HINT] };
      }
      return undefined;
    }
    case 'COPY':
      if (i.parents && !allow.has('copy-parents')) {
        return { reason: 'COPY --parents is not supported by the native builder yet', suggestions: ['copy each directory to its destination explicitly, or ' + ENGINE_HINT] };
      }
      if (i.exclude.length > 0 && !allow.has('copy-exclude')) {
        return { reason: 'COPY --exclude is not supported by the native builder yet', suggestions: ['list the wanted sources explicitly, or ' + ENGINE_HINT] };
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Whether this one instruction needs an engine (RUN, ONBUILD, ADD of a URL or archive, ...). */
export function instructionNeedsEngine(i: Instruction): boolean {
  return blockerFor(i, new Set()) !== undefined;
}

/**
 * The first instruction (by line) in the stages the target needs that the native builder cannot
 * build, or undefined when the whole chain is native-buildable. Sources are judged as written;
 * a builder should check expanded ADD sources again with isRemoteSource/isLocalArchiveName.
 */
export function findNativeBlocker(plan: BuildPlan, opts: { allow?: readonly NativeFeature[] } = {}): NativeBlocker | undefined {
  const allow = new Set(opts.allow ?? []);
  const candidates = plan.required.flatMap((stage) => stage.instructions.map((instruction) => ({ stage, instruction })));
  candidates.sort((a, b) => a.instruction.line - b.instruction.line);
  for (const c of candidates) {
    const why = blockerFor(c.instruction, allow);
    if (why !== undefined) return { ...c, ...why };
  }
  return undefined;
}

/** Throws NATIVE_UNSUPPORTED (exit 65) naming the first instruction the native builder cannot build. */
export function assertNativeBuildable(plan: BuildPlan, opts: { allow?: readonly NativeFeature[] } = {}): void {
  const b = findNativeBlocker(plan, opts);
  if (b === undefined) return;
  const file = plan.dockerfile.file;
  throw dataError('NATIVE_UNSUPPORTED', `${b.instruction.kind} at ${file}:${b.instruction.line} cannot be built natively: ${b.reason}`, {
    where: `${file}:${b.instruction.line}`,
    suggestions: b.suggestions,
    details: { instruction: b.instruction.kind, line: b.instruction.line, stage: b.stage.name ?? b.stage.index },
  });
}

/** Whether an error came from this module's parsing (for callers that want to add context). */
export function isDockerfileError(e: unknown): e is FerryError {
  return isFerryError(e) && (e.code.startsWith('DOCKERFILE_') || e.code === 'NATIVE_UNSUPPORTED');
}
