/**
 * Variable substitution and word splitting for Dockerfile instructions, following BuildKit's
 * shell lexer (moby/buildkit frontend/dockerfile/shell/lex.go), which is what `docker build`
 * runs today. This is not a POSIX shell: no command substitution, no globbing, no tilde; only
 * quotes, the escape token and `$` expansion, with these BuildKit rules:
 *
 * - `$NAME` and `${NAME}`; a name is letters, digits and `_`, or a run of digits (`$12`), or one
 *   special parameter (`$@ $* $# $? $- $$ $! $0`), which is looked up like any other name.
 *   A `$` that starts no name stays literal (`$.` is `$.`).
 * - `${NAME:-word}` `${NAME-word}` `${NAME:+word}` `${NAME+word}` `${NAME:?msg}` `${NAME?msg}`:
 *   with the colon an empty value counts as unset. `word` is itself expanded.
 * - `${NAME#pat}` `${NAME##pat}` `${NAME%pat}` `${NAME%%pat}` `${NAME/pat/repl}`
 *   `${NAME//pat/repl}`, where `pat` knows `*` and `?` (no bracket classes).
 * - Single quotes keep everything literal; double quotes allow `$` and let the escape token
 *   escape only `"`, `$` and itself. Outside quotes the escape token escapes any character; a
 *   trailing one is dropped.
 * - Unset variables expand to "" (no error), except with `?`.
 * - Word splitting (used by EXPOSE) happens after expansion on unquoted whitespace that came
 *   from the source text or from an unquoted expansion; quoted text never splits.
 *
 * The escape token is the Dockerfile's (`# escape=`), `\` by default.
 */
import { dataError, type FerryError } from '../../core/errors.js';

export type EscapeToken = '\\' | '`';

/** Variables visible to an expansion; keys are case-sensitive (Linux images). */
export type EnvSource = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface LexOptions {
  /** The Dockerfile's escape token. Default `\`. */
  escapeToken?: EscapeToken;
  /** Keep quote characters in the output (BuildKit's RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the output (BuildKit's RawEscapes). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit's SkipProcessQuotes). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "". */
  skipUnsetEnv?: boolean;
}

export interface ExpansionResult {
  /** The expanded text, quotes removed, inner whitespace kept (BuildKit's ProcessWord). */
  result: string;
  /** The expanded text split into words (BuildKit's ProcessWords). */
  words: string[];
  /** Names that were looked up and found. */
  matched: Set<string>;
  /** Names that were looked up and not set. */
  unmatched: Set<string>;
}

/** Expand one word: `COPY $SRC /dst` keeps `a b` as one path even if SRC is "a b". */
export function expandWord(word: string, env: EnvSource, opts: LexOptions = {}): string {
  return processWord(word, env, opts).result;
}

/** Expand and split into words, as EXPOSE does: `EXPOSE $PORTS` with PORTS="80 443" is two ports. */
export function expandWords(word: string, env: EnvSource, opts: LexOptions = {}): string[] {
  return processWord(word, env, opts).words;
}

/**
 * Expand `word`. Throws a FerryError (exit 65) with code DOCKERFILE_SYNTAX for malformed text
 * (unterminated quote, `${}`, unknown modifier) and DOCKERFILE_VARIABLE_UNSET for `${X?msg}` or
 * `${X:?msg}` when X is unset (or empty, with the colon). Callers that know the file and line wrap
 * it to add `where`.
 */
export function processWord(word: string, env: EnvSource, opts: LexOptions = {}): ExpansionResult {
  const lexer = new Lexer(word, env, opts);
  try {
    const [result, words] = lexer.processStopOn(undefined, opts.rawEscapes ?? false);
    return { result, words, matched: lexer.matched, unmatched: lexer.unmatched };
  } catch (e) {
    if (e instanceof LexError) {
      throw dataError(e.unset ? 'DOCKERFILE_VARIABLE_UNSET' : 'DOCKERFILE_SYNTAX', `failed to process "${word}": ${e.message}`, {
        cause: e,
        suggestions: e.unset
          ? [`set ${e.variable ?? 'the variable'} with ARG/ENV or pass it with --build-arg`]
          : ['check the quotes and ${...} expressions on this line'],
      });
    }
    throw e;
  }
}

/** Re-throw an expansion error with its place in the Dockerfile attached. */
export function withWhere(e: FerryError, where: string): FerryError {
  return dataError(e.code, e.message, { where, suggestions: e.suggestions, cause: e.cause ?? e });
}

class LexError extends Error {
  constructor(
    message: string,
    readonly unset = false,
    readonly variable?: string,
  ) {
    super(message);
    this.name = 'LexError';
  }
}

function lookup(env: EnvSource, name: string): string | undefined {
  if (env instanceof Map) return (env as ReadonlyMap<string, string>).get(name);
  const rec = env as Readonly<Record<string, string>>;
  return Object.hasOwn(rec, name) ? rec[name] : undefined;
}

/** Go's unicode.IsSpace: the ASCII blanks, NEL, NBSP and Unicode White_Space. */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case '\u0085':
    case '\u00a0':
      return true;
    default:
      return ch.length > 0 && ch.charCodeAt(0) > 0xff && /^\p{White_Space}$/u.test(ch);
  }
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const isLetter = (ch: string): boolean => LETTER.test(ch);
const isDigit = (ch: string): boolean => DIGIT.test(ch);

function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch);
}

/**
 * Accumulates the split words of one processStopOn call (BuildKit's wordsStruct). The text of the
 * word being built lives in a buffer shared by the whole lexer and cleared whenever a nested
 * `${...}` word starts, as in BuildKit: so `a${X:-b c}d` splits into "b" and "cd", the "a" lost.
 */
class Words {
  private inWord = false;
  readonly words: string[] = [];

  constructor(private readonly shared: { buf: string }) {}

  addChar(ch: string): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.shared.buf.length !== 0) {
        this.words.push(this.shared.buf);
        this.shared.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.shared.buf += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.shared.buf += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.shared.buf.length > 0) {
      this.words.push(this.shared.buf);
      this.shared.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  private readonly escapeToken: EscapeToken;
  private rawEscapes: boolean;
  private readonly wordBuffer = { buf: '' };
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    source: string,
    private readonly env: EnvSource,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(source);
    this.escapeToken = opts.escapeToken ?? '\\';
    this.rawEscapes = opts.rawEscapes ?? false;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  private getEnv(name: string): string | undefined {
    const v = lookup(this.env, name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  /**
   * Process until `stop` (consumed) or the end; returns the text and its split words.
   * `patternEscapes`: inside a ${X#pattern} or ${X/pattern/...}, quoted characters stay literal
   * in the pattern, so escape tokens inside quotes are kept escaped.
   */
  processStopOn(stop: string | undefined, rawEscapes: boolean, patternEscapes = false): [string, string[]] {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    this.wordBuffer.buf = '';
    try {
      let result = '';
      const words = new Words(this.wordBuffer);
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.next();
          return [result, words.finish()];
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
          continue;
        }
        if (ch === '<') {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        if (!this.opts.skipProcessQuotes && (ch === "'" || ch === '"')) {
          const tmp = ch === "'" ? this.processSingleQuote(patternEscapes) : this.processDoubleQuote(patternEscapes);
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        this.next();
        if (ch === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += ch;
          }
          const escaped = this.next();
          // A trailing escape token escapes nothing and disappears.
          if (escaped === undefined) break;
          words.addRawChar(escaped);
          result += escaped;
        } else {
          words.addChar(ch);
          result += ch;
        }
      }
      if (stop !== undefined) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return [result, words.finish()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  /** `<<` keeps the blanks after it, so `<< EOF` stays one word (BuildKit reads it as a heredoc). */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    for (let p = this.peek(); p === ' ' || p === '\t' || p === '\r'; p = this.peek()) out += this.next() ?? '';
    return out;
  }

  private processSingleQuote(patternEscapes: boolean): string {
    // Nothing can be escaped inside single quotes, not even the quote itself.
    let result = '';
    const open = this.next() ?? '';
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      if (patternEscapes && ch === this.escapeToken) result += ch;
      result += ch;
    }
  }

  private processDoubleQuote(patternEscapes: boolean): string {
    let result = '';
    const open = this.next() ?? '';
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === undefined) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        if (this.opts.rawQuotes) result += p;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next() ?? '';
      if (ch === this.escapeToken) {
        const after = this.peek();
        // An escape token at the very end is dropped (and the quote is then unterminated).
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escapeToken) {
          // Only these can be escaped inside double quotes.
          if (this.rawEscapes) result += ch;
          ch = this.next() ?? '';
        } else if (this.rawEscapes && (!(this.opts.rawQuotes ?? false) || patternEscapes)) {
          // Other escape tokens stay literal; a pattern needs them escaped to stay literal.
          result += ch;
        }
      }
      result += ch;
    }
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name.length === 0 && isDigit(ch)) {
        for (let d = this.peek(); d !== undefined && isDigit(d); d = this.peek()) name += this.next() ?? '';
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        this.next();
        return ch;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next() ?? '';
    }
    return name;
  }

  private processDollar(): string {
    this.next(); // the '$'
    const skipUnset = this.opts.skipUnsetEnv ?? false;
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return '$' + name;
      return value ?? '';
    }
    this.next(); // the '{'
    const first = this.peek();
    if (first === undefined) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    if (ch === undefined) throw new LexError("syntax error: missing '}'");
    let modifier = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === '/') return this.processReplace(name);
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      if (ch === undefined) throw new LexError("syntax error: missing '}'");
      modifier += ch;
    } else if (!'+-?#%'.includes(ch)) {
      throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
    // Patterns keep their escapes so that \* stays a literal star.
    const patternMode = ch === '#' || ch === '%';
    if (nullIsUnset && patternMode) throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    let word: string;
    try {
      [word] = this.processStopOn('}', patternMode, patternMode);
    } catch (e) {
      if (e instanceof LexError && this.peek() === undefined) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && skipUnset) return `\${${name}${modifier}${word}}`;
    const isUnset = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return value === undefined || isUnset ? word : value;
      case '+':
        return isUnset ? '' : word;
      case '?':
        if (value === undefined) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`, true, name);
        if (nullIsUnset && value === '') throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`, true, name);
        return value;
      case '#':
      case '%': {
        // '#' trims a prefix, '%' a suffix; doubled, the longest match.
        let pattern = word;
        let greedy = false;
        if (pattern.startsWith(ch)) {
          greedy = true;
          pattern = pattern.slice(1);
        }
        return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
      }
      default:
        // ${X:=word} and friends: BuildKit reads the word first, then refuses the modifier.
        throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const replaceAll = this.peek() === '/';
    if (replaceAll) this.next();
    let pattern: string;
    try {
      [pattern] = this.processStopOn('/', true, true);
    } catch (e) {
      if (e instanceof LexError && this.peek() === undefined) throw new LexError("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      [replacement] = this.processStopOn('}', true, false);
    } catch (e) {
      if (e instanceof LexError && this.peek() === undefined) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && (this.opts.skipUnsetEnv ?? false)) return `\${${name}/${pattern}/${replacement}}`;
    const re = shellPatternToRegExp(pattern, true, false, replaceAll);
    const v = value ?? '';
    if (replaceAll) return goReplaceAll(re, v, replacement);
    const m = re.exec(v);
    if (m === null) return v;
    return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
  }
}

/**
 * A `${X#pat}` pattern as a regular expression: `*` is any run (shortest unless greedy), `?` any
 * one character, `\` escapes `*`, `?` or `\` (and is dropped before `}` or `/`, which only needed
 * escaping to get through the ${} syntax). Bracket classes are not supported, as in BuildKit.
 */
function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i] ?? '';
    if (tok === '*') {
      out += greedy ? '[^\\n]*' : '[^\\n]*?';
    } else if (tok === '?') {
      out += '[^\\n]';
    } else if (tok === '\\') {
      const nxt = chars[i + 1];
      if (nxt === '}' || nxt === '/') continue;
      i++;
      if (nxt !== '*' && nxt !== '?' && nxt !== '\\') {
        throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nxt ?? ''}'`);
      }
      out += '\\' + nxt;
    } else {
      out += escapeRegExpChar(tok);
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function escapeRegExpChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m === null ? value : value.slice(m[0].length);
}

/** Keeps `\x` pairs together so an escaped character stays escaped after reversing. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < chars.length; ) {
    const tok = chars[i] ?? '';
    if (tok === '\\' && i !== chars.length - 1) {
      out.unshift(tok, chars[i + 1] ?? '');
      i += 2;
    } else {
      out.unshift(tok);
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regular expression finds the leftmost match, so the shortest suffix is found by reversing
  // both the value and the pattern and trimming a prefix instead.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/**
 * Go's Regexp.ReplaceAllString: successive non-overlapping matches, an empty match right after a
 * match is not replaced, and the replacement is a template where `$$` is `$`, `$0`/`${0}` the
 * match and any other `$name` is empty (the pattern has no groups).
 */
function goReplaceAll(re: RegExp, value: string, template: string): string {
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(template, m[0]);
    lastMatchEnd = end;
    const cp = value.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

function expandTemplate(template: string, match: string): string {
  let out = '';
  for (let i = 0; i < template.length; ) {
    const c = template.charAt(i);
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    if (template.charAt(i + 1) === '$') {
      out += '$';
      i += 2;
      continue;
    }
    const m = /^\{([A-Za-z0-9_]+)\}|^([A-Za-z0-9_]+)/.exec(template.slice(i + 1));
    if (m === null) {
      out += '$';
      i++;
      continue;
    }
    const name = m[1] ?? m[2] ?? '';
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += match;
    i += 1 + m[0].length;
  }
  return out;
}

/** Go's strings.TrimSpace: BuildKit trims with Go's notion of white space, not JavaScript's. */
export function trimGo(s: string): string {
  const chars = Array.from(s);
  let a = 0;
  let b = chars.length;
  while (a < b && isGoSpace(chars[a] ?? '')) a++;
  while (b > a && isGoSpace(chars[b - 1] ?? '')) b--;
  return chars.slice(a, b).join('');
}
