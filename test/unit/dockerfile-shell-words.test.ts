import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../src/core/errors.js';
import { expandWord, expandWords, processWord } from '../../src/builders/native/shell-words.js';

// The environment BuildKit's own lexer tests use (frontend/dockerfile/shell), plus an empty var.
const env = new Map([
  ['PWD', '/home'],
  ['SHELL', 'bash'],
  ['KOREAN', '한국어'],
  ['NULL', ''],
]);

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isFerryError(e) ? e.code : 'NOT_FERRY';
  }
  return undefined;
}

describe('expandWord: quotes, escapes and variables (BuildKit envVarTest cases)', () => {
  const ok: [string, string][] = [
    ['hello', 'hello'],
    ["he'll'o", 'hello'],
    ["he\\'llo", "he'llo"],
    ['abc\\tdef', 'abctdef'],
    ['"abc\\tdef"', 'abc\\tdef'],
    ['"abc\\\\tdef"', 'abc\\tdef'],
    ["'abc\\tdef'", 'abc\\tdef'],
    ['hello\\', 'hello'],
    ['hello\\\\', 'hello\\'],
    ['"hel\'lo"', "hel'lo"],
    ["'hello\\'", 'hello\\'],
    ["'hello\\there'", 'hello\\there'],
    ["'hello\\\\there'", 'hello\\\\there'],
    ['"\'\'"', "''"],
    ['$.', '$.'],
    ['he$1x', 'hex'],
    ['he$.x', 'he$.x'],
    ['he$pwd.', 'he.'],
    ['he$PWD', 'he/home'],
    ['he\\$PWD', 'he$PWD'],
    ['he\\\\$PWD', 'he\\/home'],
    ['"he\\$PWD"', 'he$PWD'],
    ['"he\\\\$PWD"', 'he\\/home'],
    ['\\${}', '${}'],
    ['\\${}aaa', '${}aaa'],
    ['he\\${}', 'he${}'],
    ['he\\${}xx', 'he${}xx'],
    ['he${hi}', 'he'],
    ['he${hi}xx', 'hexx'],
    ['he${PWD}', 'he/home'],
    ['he${XXX:-000}xx', 'he000xx'],
    ['he${PWD:-000}xx', 'he/homexx'],
    ['he${XXX:-$PWD}xx', 'he/homexx'],
    ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
    ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
    ['he${PWD?}', 'he/home'],
    ['he${PWD:?}', 'he/home'],
    ['he${NULL?}', 'he'],
    ['he${XXX:+${PWD}}xx', 'hexx'],
    ['he${PWD:+${XXX}}xx', 'hexx'],
    ['he${PWD:+${SHELL}}xx', 'hebashxx'],
    ['he${XXX:+000}xx', 'hexx'],
    ['he${PWD:+000}xx', 'he000xx'],
    ["'he${XX}'", 'he${XX}'],
    ['"he${PWD}"', 'he/home'],
    ['"he\'$PWD\'"', "he'/home'"],
    ['"$PWD"', '/home'],
    ["'$PWD'", '$PWD'],
    ["'\\$PWD'", '\\$PWD'],
    ['\'"hello"\'', '"hello"'],
    ["'he\\$PWD'", 'he\\$PWD'],
    ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
    ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
    // The escaped "{" does not protect the "}" that ends ${XXX:-...}, so "z}xx" is left over.
    ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
    ['안녕하세요', '안녕하세요'],
    ["안'녕'하세요", '안녕하세요'],
    ["안녕\\'하세요", "안녕'하세요"],
    ['안녕\\t하세요', '안녕t하세요'],
    ['"안녕\\t하세요"', '안녕\\t하세요'],
    ['$KOREAN', '한국어'],
    ['안녕$KOREAN', '안녕한국어'],
    ['${aaa}}', '}'],
    ['${aaa}}}', '}}'],
  ];
  it.each(ok)('%s -> %s', (src, want) => {
    expect(expandWord(src, env)).toBe(want);
  });

  const bad = [
    "he'llo",
    "he\\\\'llo",
    '"hello',
    '"hello\\"',
    "'hello",
    '${}',
    '${}aaa',
    'he${}',
    'he${}xx',
    'he${.}',
    'he${XXX:YYY}',
    'he${XXX?}',
    'he${XXX:?}',
    'he${NULL:?}',
    'he${PWD',
    'he${PWD:=000}xx',
    "안'녕하세요",
    "안\\\\'녕하세요",
    '${{aaa}',
    '${aaa',
    '${{aaa',
    '${{aaa}}',
  ];
  it.each(bad)('%s is an error', (src) => {
    expect(errorCode(() => expandWord(src, env))).toMatch(/^DOCKERFILE_(SYNTAX|VARIABLE_UNSET)$/);
  });

  it('reports ${X?msg} and ${X:?msg} as an unset variable with the message', () => {
    expect(errorCode(() => expandWord('${XXX?need it}', env))).toBe('DOCKERFILE_VARIABLE_UNSET');
    expect(errorCode(() => expandWord('${NULL:?}', env))).toBe('DOCKERFILE_VARIABLE_UNSET');
    expect(errorCode(() => expandWord('${XXX', env))).toBe('DOCKERFILE_SYNTAX');
    try {
      expandWord('${XXX:?need it}', env);
    } catch (e) {
      expect(isFerryError(e) && e.message).toContain('XXX: need it');
      expect(isFerryError(e) && e.exitCode).toBe(65);
    }
    expect.assertions(5);
  });
});

describe('expandWord: unset vs empty and the modifiers without colon', () => {
  const cases: [string, string][] = [
    ['${NULL-dflt}', ''],
    ['${NULL:-dflt}', 'dflt'],
    ['${XXX-dflt}', 'dflt'],
    ['${NULL+alt}', 'alt'],
    ['${NULL:+alt}', ''],
    ['${XXX+alt}', ''],
    ['${PWD+alt}', 'alt'],
  ];
  it.each(cases)('%s -> %s', (src, want) => {
    expect(expandWord(src, env)).toBe(want);
  });
});

describe('expandWord: pattern removal and replacement', () => {
  const e = new Map([
    ['P', '/usr/local/lib/libfoo.so.1.2'],
    ['V', 'v1.2.3'],
    ['S', 'a-b-c'],
    ['STAR', 'a*b'],
  ]);
  const cases: [string, string][] = [
    ['${P#*/}', 'usr/local/lib/libfoo.so.1.2'],
    ['${P##*/}', 'libfoo.so.1.2'],
    ['${P%/*}', '/usr/local/lib'],
    ['${P%%/*}', ''],
    ['${P%.*}', '/usr/local/lib/libfoo.so.1'],
    ['${P%%.*}', '/usr/local/lib/libfoo'],
    ['${V#v}', '1.2.3'],
    ['${V#x}', 'v1.2.3'],
    ['${V#?}', '1.2.3'],
    ['${S/-/_}', 'a_b-c'],
    ['${S//-/_}', 'a_b_c'],
    ['${S//x/_}', 'a-b-c'],
    ['${S/#/x}', 'a-b-c'],
    ['${STAR/\\*/+}', 'a+b'],
    ['${STAR#a\\*}', 'b'],
    ['${UNSET#x}', ''],
    ['${S//*/X}', 'X'],
    ['${S//$/X}', 'a-b-c'],
  ];
  it.each(cases)('%s -> %s', (src, want) => {
    expect(expandWord(src, e)).toBe(want);
  });

  it('refuses ${X:#...} and invalid pattern escapes', () => {
    expect(errorCode(() => expandWord('${V:#v}', e))).toBe('DOCKERFILE_SYNTAX');
    expect(errorCode(() => expandWord('${V#\\a}', e))).toBe('DOCKERFILE_SYNTAX');
    expect(errorCode(() => expandWord('${S/-', e))).toBe('DOCKERFILE_SYNTAX');
  });
});

describe('expandWords: splitting after expansion (BuildKit wordsTest cases)', () => {
  const wenv = new Map([
    ['hi', 'hi'],
    ['space', 'abc  def'],
    ['leading', '  ab c'],
    ['trailing', 'ab c   '],
  ]);
  const cases: [string, string[]][] = [
    ['hello', ['hello']],
    ['hello${nope}bye', ['hellobye']],
    ['hello${hi}bye', ['hellohibye']],
    ['hello${space}bye', ['helloabc', 'defbye']],
    ['hello"${space}"bye', ['helloabc  defbye']],
    ['hello "${space}"bye', ['hello', 'abc  defbye']],
    ['hello${leading}def', ['hello', 'ab', 'cdef']],
    ['hello"${leading}" def', ['hello  ab c', 'def']],
    ['hello"${leading}"', ['hello  ab c']],
    ['hello${leading}', ['hello', 'ab', 'c']],
    ['hello${trailing}', ['helloab', 'c']],
    ['hello${trailing}d', ['helloab', 'c', 'd']],
    ['hello"${trailing}"d', ['helloab c   d']],
    ['hel"lo${trailing}"', ['helloab c   ']],
    ['hello" there  "', ['hello there  ']],
    ['hello there', ['hello', 'there']],
    ['hello\\ there', ['hello there']],
    ['hello\\" there', ['hello"', 'there']],
    ['hello"\\\\there"', ['hello\\there']],
    ['hello"\\there"', ['hello\\there']],
    ["hello'\\\\there'", ['hello\\\\there']],
    ["hello'\\there'", ['hello\\there']],
    ["hello'$there'", ['hello$there']],
    ['"" x', ['x']],
    ['${hi:-a b} c', ['hi', 'c']],
    ['${nope:-a b} c', ['a', 'b', 'c']],
  ];
  it.each(cases)('%s', (src, want) => {
    expect(expandWords(src, wenv)).toEqual(want);
  });
});

describe('options', () => {
  it('uses the backtick as escape token when the Dockerfile says so', () => {
    expect(expandWord('c:\\path`$X', new Map(), { escapeToken: '`' })).toBe('c:\\path$X');
    expect(expandWord('"a`"b"', new Map(), { escapeToken: '`' })).toBe('a"b');
  });
  it('keeps unset references with skipUnsetEnv, and quotes/escapes with the raw options', () => {
    expect(expandWord('$A ${B} ${C:-x} ${D/a/b}', new Map(), { skipUnsetEnv: true })).toBe('$A ${B} ${C:-x} ${D/a/b}');
    expect(expandWord(`"a" 'b' \\c`, new Map(), { rawQuotes: true, rawEscapes: true })).toBe(`"a" 'b' \\c`);
    expect(expandWord(`"a" 'b'`, new Map(), { skipProcessQuotes: true })).toBe(`"a" 'b'`);
  });
  it('accepts a plain record and reports matched and unmatched names', () => {
    const r = processWord('$A ${B:-x} $C', { A: '1', C: '' });
    expect(r.result).toBe('1 x ');
    expect([...r.matched].sort()).toEqual(['A', 'C']);
    expect([...r.unmatched]).toEqual(['B']);
  });
  it('does not read inherited properties of a record as variables', () => {
    expect(expandWord('$toString$constructor', {})).toBe('');
  });
});
