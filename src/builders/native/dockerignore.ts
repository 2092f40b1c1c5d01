/**
 * `.dockerignore` with Docker's semantics, as BuildKit applies them when it sends the context:
 * moby/patternmatcher (ignorefile.ReadAll to read the file, PatternMatcher to match) driven the way
 * tonistiigi/fsutil's walker drives it.
 *
 * Reading (ignorefile.ReadAll): a line whose first character is `#` is a comment (an indented `#`
 * is a pattern); blanks around a line are trimmed and empty lines skipped; a leading `!` makes an
 * exception (blanks after it are trimmed too); the pattern is cleaned like Go's filepath.Clean
 * (`./a//b/` is `a/b`, `a/../b` is `b`) and one leading `/` removed, so `/foo` and `foo` are the
 * same. A pattern that is only `!` is an error, as is a malformed one (`[`, a trailing `\`).
 *
 * Matching (PatternMatcher): `*` is any run of characters except `/`, `?` one character except `/`,
 * `[...]` a class (`[^...]` negated), `\` escapes the next character, and `**` any number of
 * directories, including none (`**\/foo` also matches `foo`, `dir/**` everything below dir but not
 * dir itself). A pattern matches a path if it matches the path or any of its parent directories,
 * and the last pattern that matches decides: a later `!` pattern re-includes what an earlier one
 * excluded, and a later plain pattern excludes again. The context root is never excluded.
 *
 * Walking (fsutil): an excluded directory may be skipped only when no exception could re-include
 * anything below it: there is no exception at all, or no exception has a wildcard and none lies
 * under the directory. A directory that is excluded but still holds re-included files is not
 * itself part of the context; the walker creates it as the parent of what it keeps.
 */
import { dataError, type FerryError } from '../../core/errors.js';
import { trimGo } from './shell-words.js';

export interface Pattern {
  /** The pattern as Docker keeps it: cleaned, leading "/" removed, without the "!". */
  readonly pattern: string;
  /** An exception (`!pattern`): re-includes what earlier patterns excluded. */
  readonly exception: boolean;
  /** 1-based line in .dockerignore; 0 when the pattern did not come from a file. */
  readonly line: number;
}

/** Per-pattern results for a directory, passed down to its entries (patternmatcher's MatchInfo). */
export interface MatchState {
  /** Whether the path is excluded from the context. */
  readonly ignored: boolean;
  /** For each pattern, whether it matched this path (or was inherited from a parent). */
  readonly matched: readonly boolean[];
}

export interface IgnoreMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any pattern is an exception (`!`). */
  readonly hasExceptions: boolean;
  /**
   * Whether `relPath` (slash-separated, relative to the context root) is excluded. Docker does not
   * distinguish files from directories here; `isDir` only documents the caller's intent.
   */
  ignores(relPath: string, isDir: boolean): boolean;
  /** Incremental form for walkers: pass the parent directory's state to skip re-checking parents. */
  match(relPath: string, parent?: MatchState): MatchState;
  /**
   * Whether a walker may skip everything below the directory `relDir`: true only when the
   * directory is excluded and no exception pattern could re-include anything inside it.
   */
  canSkipDir(relDir: string): boolean;
}

export interface DockerignoreOptions {
  /** Display name for `where`, default ".dockerignore". */
  file?: string;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Go's path/filepath.Clean on a slash-separated path. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/**
 * Read a .dockerignore file into patterns. Throws DOCKERIGNORE_PATTERN (exit 65) for a lone `!`
 * or a malformed pattern, naming the line.
 */
export function parseDockerignore(text: string, opts: DockerignoreOptions = {}): Pattern[] {
  const file = opts.file ?? '.dockerignore';
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: Pattern[] = [];
  lines.forEach((rawLine, idx) => {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (idx === 0) line = line.replace(/^\uFEFF/, '');
    if (line.startsWith('#')) return;
    let p = trimGo(line);
    if (p === '') return;
    const invert = p.startsWith('!');
    if (invert) p = trimGo(p.slice(1));
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    const pattern = newPattern(invert ? '!' + p : p, idx + 1, `${file}:${idx + 1}`);
    if (pattern !== undefined) out.push(pattern);
  });
  return out;
}

/** patternmatcher.New for one pattern: trim, clean, split off `!`, check the syntax. */
function newPattern(raw: string, line: number, where: string): Pattern | undefined {
  let p = trimGo(raw);
  if (p === '') return undefined;
  p = cleanPath(p);
  let exception = false;
  if (p.startsWith('!')) {
    if (p.length === 1) {
      throw patternError('illegal exclusion pattern: "!"', where, ['write the path to re-include after the "!", e.g. !docs/README.md']);
    }
    exception = true;
    p = p.slice(1);
  }
  const bad = globSyntaxError(p);
  if (bad !== undefined) throw patternError(`syntax error in pattern "${p}": ${bad}`, where, ['close every "[" with "]" and escape a literal "\\" as "\\\\"']);
  return { pattern: p, exception, line };
}

function patternError(message: string, where: string, suggestions: string[]): FerryError {
  return dataError('DOCKERIGNORE_PATTERN', message, { where, suggestions });
}

/** The syntax check Go's filepath.Match makes; undefined when the pattern is well formed. */
function globSyntaxError(p: string): string | undefined {
  const cs = Array.from(p);
  let i = 0;
  // getEsc: one class character, possibly escaped; it may not be "-" or "]" and must not end the pattern.
  const classChar = (): string | undefined => {
    const c = cs[i];
    if (c === undefined || c === '-' || c === ']') return 'bad character class';
    if (c === '\\') {
      i++;
      if (cs[i] === undefined) return 'bad character class';
    }
    i++;
    if (i >= cs.length) return 'unterminated character class';
    return undefined;
  };
  while (i < cs.length) {
    const c = cs[i];
    if (c === '\\') {
      i++;
      if (i >= cs.length) return 'trailing backslash';
      i++;
      continue;
    }
    if (c !== '[') {
      i++;
      continue;
    }
    i++;
    if (cs[i] === '^') i++;
    let nrange = 0;
    for (;;) {
      if (cs[i] === ']' && nrange > 0) {
        i++;
        break;
      }
      const e1 = classChar();
      if (e1 !== undefined) return e1;
      if (cs[i] === '-') {
        i++;
        const e2 = classChar();
        if (e2 !== undefined) return e2;
      }
      nrange++;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Compiling (patternmatcher's Pattern.compile, then Go regexp syntax into JavaScript)

type Compiled =
  | { type: 'exact'; text: string }
  | { type: 'prefix'; prefix: string }
  | { type: 'suffix'; suffix: string }
  | { type: 'regexp'; re: RegExp };

/** Characters patternmatcher escapes because they mean something in a regexp but not in a glob. */
const SHOULD_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

function compile(pattern: string, where: string): Compiled {
  let reg = '^';
  let type: Compiled['type'] = 'exact';
  const cs = Array.from(pattern);
  let pos = 0;
  for (let iter = 0; pos < cs.length; iter++) {
    const ch = cs[pos++] ?? '';
    if (ch === '*') {
      if (cs[pos] === '*') {
        pos++;
        // "**/" is treated as "**".
        if (cs[pos] === '/') pos++;
        if (pos >= cs.length) {
          // "**" at the end matches everything below, as in .gitignore.
          if (type === 'exact') type = 'prefix';
          else {
            reg += '.*';
            type = 'regexp';
          }
        } else {
          reg += '(.*/)?';
          type = 'regexp';
        }
        if (iter === 0) type = 'suffix';
      } else {
        reg += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      reg += '[^/]';
      type = 'regexp';
    } else if (SHOULD_ESCAPE.has(ch)) {
      reg += '\\' + ch;
    } else if (ch === '\\') {
      if (pos < cs.length) {
        reg += '\\' + (cs[pos++] ?? '');
        type = 'regexp';
      } else {
        reg += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      reg += ch;
      type = 'regexp';
    } else {
      reg += ch;
    }
  }
  switch (type) {
    case 'exact':
      return { type, text: pattern };
    case 'prefix':
      return { type, prefix: pattern.slice(0, -2) };
    case 'suffix':
      return { type, suffix: pattern.slice(2) };
    case 'regexp':
      try {
        return { type, re: goRegExp(reg + '$') };
      } catch (e) {
        throw dataError('DOCKERIGNORE_PATTERN', `pattern "${pattern}" cannot be used: ${e instanceof Error ? e.message : String(e)}`, {
          where,
          cause: e,
          suggestions: ['escape only punctuation with "\\" (\\*, \\?, \\[); letters after "\\" have special meanings'],
        });
      }
  }
}

function matches(c: Compiled, path: string): boolean {
  switch (c.type) {
    case 'exact':
      return path === c.text;
    case 'prefix':
      return path.startsWith(c.prefix);
    case 'suffix':
      // "**/foo" also matches "foo" itself.
      return path.endsWith(c.suffix) || (c.suffix.startsWith('/') && path === c.suffix.slice(1));
    case 'regexp':
      return c.re.test(path);
  }
}

type CodeRange = [number, number];

const ASCII = {
  digit: [[0x30, 0x39]] as CodeRange[],
  space: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]] as CodeRange[],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]] as CodeRange[],
};

const POSIX: Record<string, CodeRange[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const PERL_CLASSES: Record<string, { ranges: CodeRange[]; neg: boolean }> = {
  d: { ranges: ASCII.digit, neg: false },
  D: { ranges: ASCII.digit, neg: true },
  s: { ranges: ASCII.space, neg: false },
  S: { ranges: ASCII.space, neg: true },
  w: { ranges: ASCII.word, neg: false },
  W: { ranges: ASCII.word, neg: true },
};

const u = (cp: number): string => `\\u{${cp.toString(16)}}`;
const rangesToJs = (rs: readonly CodeRange[]): string => rs.map(([a, b]) => (a === b ? u(a) : `${u(a)}-${u(b)}`)).join('');

/**
 * Translate the Go (RE2, Perl flags) regular expression patternmatcher builds into a JavaScript
 * one with the same meaning. Only what patternmatcher can produce needs handling: its own
 * `^ $ [^/]* (.*\/)? .*`, escapes from the pattern, and bracket classes copied from the pattern.
 */
function goRegExp(src: string): RegExp {
  const cs = Array.from(src);
  let i = 0;
  let out = '';

  /** One escape after `\`, as a code point (inClass: no assertions allowed). */
  const escapeCodePoint = (): number => {
    const c = cs[i++];
    if (c === undefined) throw new Error('trailing backslash at end of expression');
    const cp = c.codePointAt(0) ?? 0;
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) return cp;
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    const s = simple[c];
    if (s !== undefined) return s;
    if (/[0-7]/.test(c)) {
      // Go reads \0 and \NN as octal; a lone \1-\7 would be a backreference, which RE2 refuses.
      if (c !== '0' && !/[0-7]/.test(cs[i] ?? '')) throw new Error(`invalid escape sequence \\${c}`);
      let v = Number(c);
      for (let k = 1; k < 3 && /[0-7]/.test(cs[i] ?? ''); k++) v = v * 8 + Number(cs[i++]);
      return v;
    }
    if (c === 'x') {
      if (cs[i] === '{') {
        const close = cs.indexOf('}', i);
        const hex = cs.slice(i + 1, close).join('');
        if (close < 0 || !/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new Error('invalid escape sequence \\x');
        i = close + 1;
        return parseInt(hex, 16);
      }
      const hex = (cs[i] ?? '') + (cs[i + 1] ?? '');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error('invalid escape sequence \\x');
      i += 2;
      return parseInt(hex, 16);
    }
    throw new Error(`unsupported escape sequence \\${c}`);
  };

  const parseClass = (): string => {
    i++; // '['
    let negate = false;
    if (cs[i] === '^') {
      negate = true;
      i++;
    }
    const pos: CodeRange[] = [];
    const negs: CodeRange[][] = [];
    let first = true;
    while (i < cs.length && (cs[i] !== ']' || first)) {
      first = false;
      if (cs[i] === '[' && cs[i + 1] === ':') {
        const rest = cs.slice(i + 2).join('');
        const end = rest.indexOf(':]');
        if (end >= 0) {
          let name = rest.slice(0, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const set = POSIX[name];
          if (set === undefined) throw new Error(`invalid character class range [:${name}:]`);
          if (neg) negs.push(set);
          else pos.push(...set);
          i += 2 + Array.from(rest.slice(0, end)).length + 2;
          continue;
        }
      }
      if (cs[i] === '\\') {
        const perl = PERL_CLASSES[cs[i + 1] ?? ''];
        if (perl !== undefined) {
          if (perl.neg) negs.push(perl.ranges);
          else pos.push(...perl.ranges);
          i += 2;
          continue;
        }
      }
      const classChar = (): number => {
        if (cs[i] === '\\') {
          i++;
          return escapeCodePoint();
        }
        const c = cs[i++] ?? '';
        return c.codePointAt(0) ?? 0;
      };
      const lo = classChar();
      let hi = lo;
      if (cs.length - i >= 2 && cs[i] === '-' && cs[i + 1] !== ']') {
        i++;
        hi = classChar();
        if (hi < lo) throw new Error('invalid character class range');
      }
      pos.push([lo, hi]);
    }
    if (i >= cs.length) throw new Error('missing closing ]');
    i++; // ']'
    if (negs.length === 0) return `[${negate ? '^' : ''}${rangesToJs(pos)}]`;
    const union = [...(pos.length > 0 ? [`[${rangesToJs(pos)}]`] : []), ...negs.map((n) => `[^${rangesToJs(n)}]`)].join('|');
    return negate ? `(?:(?!${union})[^])` : `(?:${union})`;
  };

  while (i < cs.length) {
    const c = cs[i] ?? '';
    if (c === '\\') {
      i++;
      const perl = PERL_CLASSES[cs[i] ?? ''];
      if (perl !== undefined) {
        out += `[${perl.neg ? '^' : ''}${rangesToJs(perl.ranges)}]`;
        i++;
        continue;
      }
      const assertion: Record<string, string> = { b: '\\b', B: '\\B', A: '^', z: '$' };
      const a = assertion[cs[i] ?? ''];
      if (a !== undefined) {
        out += a;
        i++;
        continue;
      }
      out += u(escapeCodePoint());
      continue;
    }
    if (c === '[') {
      out += parseClass();
      continue;
    }
    i++;
    if (c === '.') out += '[^\\n]';
    else if ('^$*?()'.includes(c)) out += c === '(' ? '(?:' : c;
    else out += /[0-9A-Za-z/_-]/.test(c) ? c : u(c.codePointAt(0) ?? 0);
  }
  return new RegExp(out, 'u');
}

// ---------------------------------------------------------------------------------------------
// Matching

interface CompiledPattern extends Pattern {
  compiled: Compiled;
}

/**
 * Normalise a walker's path: relative, cleaned; "" for the context root. A backslash is part of
 * a Linux file name, not a separator.
 */
function normalize(relPath: string): string {
  const c = cleanPath(relPath.replace(/^\/+/, ''));
  return c === '.' ? '' : c;
}

/** fsutil's patternWithoutTrailingGlob. */
function withoutTrailingGlob(p: string): string {
  let s = p.endsWith('/**') ? p.slice(0, -3) : p;
  s = s.endsWith('/*') ? s.slice(0, -2) : s;
  return s;
}

/**
 * A matcher for patterns from parseDockerignore, or for raw pattern strings (processed as
 * patternmatcher.New processes them). Throws DOCKERIGNORE_PATTERN for a bad pattern.
 */
export function createIgnoreMatcher(patterns: readonly (Pattern | string)[]): IgnoreMatcher {
  const list: CompiledPattern[] = [];
  for (const p of patterns) {
    const pat = typeof p === 'string' ? newPattern(p, 0, `pattern "${p}"`) : p;
    if (pat === undefined) continue;
    const where = pat.line > 0 ? `.dockerignore:${pat.line}` : `pattern "${pat.pattern}"`;
    list.push({ ...pat, compiled: compile(pat.pattern, where) });
  }
  const hasExceptions = list.some((p) => p.exception);
  const onlyPrefixExceptions = !list.some((p) => p.exception && /[*[\]?^\\]/.test(withoutTrailingGlob(p.pattern)));
  const dirStates = new Map<string, MatchState>();

  /** patternmatcher's MatchesUsingParentResults. */
  const matchOne = (path: string, parent: MatchState | undefined): MatchState => {
    const parentMatched = parent?.matched ?? [];
    const info = new Array<boolean>(list.length).fill(false);
    let ignored = false;
    list.forEach((pattern, idx) => {
      let match = parentMatched.length !== 0 && parentMatched[idx] === true;
      if (!match) {
        // An exclusion only matters once something matched; an inclusion once nothing has.
        if (pattern.exception !== ignored) return;
        match = matches(pattern.compiled, path);
        if (!match && parentMatched.length === 0) {
          const dirs = path.split('/').slice(0, -1);
          for (let k = 1; k <= dirs.length && !match; k++) match = matches(pattern.compiled, dirs.slice(0, k).join('/'));
        }
      }
      info[idx] = match;
      if (match) ignored = !pattern.exception;
    });
    return { ignored, matched: info };
  };

  /** The state of a path reached by walking down from the root, as fsutil's walk would. */
  const stateOf = (path: string): MatchState => {
    const cached = dirStates.get(path);
    if (cached !== undefined) return cached;
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? undefined : stateOf(path.slice(0, slash));
    const state = matchOne(path, parent);
    dirStates.set(path, state);
    return state;
  };

  const ignores = (relPath: string): boolean => {
    const path = normalize(relPath);
    if (path === '' || list.length === 0) return false;
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? undefined : stateOf(path.slice(0, slash));
    return matchOne(path, parent).ignored;
  };

  const emptyState: MatchState = { ignored: false, matched: [] };
  return {
    patterns: list.map(({ pattern, exception, line }) => ({ pattern, exception, line })),
    hasExceptions,
    ignores: (relPath: string, _isDir: boolean): boolean => ignores(relPath),
    match: (relPath: string, parent?: MatchState): MatchState => {
      const path = normalize(relPath);
      if (path === '' || list.length === 0) return emptyState;
      return matchOne(path, parent);
    },
    canSkipDir: (relDir: string): boolean => {
      const dir = normalize(relDir);
      if (dir === '' || !ignores(dir)) return false;
      if (!hasExceptions) return true;
      if (!onlyPrefixExceptions) return false;
      const dirSlash = dir + '/';
      return !list.some((p) => p.exception && (withoutTrailingGlob(p.pattern) + '/').startsWith(dirSlash));
    },
  };
}
