import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../src/core/errors.js';
import { cleanPath, createIgnoreMatcher, type MatchState, parseDockerignore } from '../../src/builders/native/dockerignore.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isFerryError(e) ? e.code : 'NOT_FERRY';
  }
  return undefined;
}

const ignored = (patterns: string[], path: string): boolean => createIgnoreMatcher(patterns).ignores(path, false);

describe('parseDockerignore (ignorefile.ReadAll)', () => {
  it('skips comments and blank lines, trims, strips a leading "/" and handles "!"', () => {
    const text = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n';
    const ps = parseDockerignore(text);
    expect(ps.map((p) => [p.exception ? '!' + p.pattern : p.pattern, p.line])).toEqual([
      ['test1', 1],
      ['test2', 2],
      ['a/file/here', 3],
      ['lastfile', 5],
      ['!inverted/abs/path', 7],
    ]);
  });

  it('only treats "#" in the first column as a comment', () => {
    const ps = parseDockerignore('#comment\n  # not a comment\n');
    expect(ps.map((p) => p.pattern)).toEqual(['# not a comment']);
  });

  it('cleans patterns like filepath.Clean and reads CRLF and a BOM', () => {
    const ps = parseDockerignore('\uFEFF./foo//bar/\r\na/../b\r\n//abs\r\n  spaced  \r\n!./x/./y/');
    expect(ps.map((p) => (p.exception ? '!' : '') + p.pattern)).toEqual(['foo/bar', 'b', 'abs', 'spaced', '!x/y']);
  });

  it('refuses a lone "!" and malformed patterns, naming the line', () => {
    for (const [text, line] of [
      ['ok\n!\n', 2],
      ['ok\n! \n', 2],
      ['!/', 1],
      ['a\n[\n', 2],
      ['foo\\', 1],
      ['x[^bc', 1],
    ] as const) {
      try {
        parseDockerignore(text, { file: 'ctx/.dockerignore' });
        expect.unreachable(`no error for ${JSON.stringify(text)}`);
      } catch (e) {
        expect(isFerryError(e) && e.code).toBe('DOCKERIGNORE_PATTERN');
        expect(isFerryError(e) && e.where).toBe(`ctx/.dockerignore:${line}`);
        expect(isFerryError(e) && e.exitCode).toBe(65);
      }
    }
  });

  it('cleanPath behaves like Go filepath.Clean', () => {
    expect(cleanPath('')).toBe('.');
    expect(cleanPath('/')).toBe('/');
    expect(cleanPath('a/b/../../..')).toBe('..');
    expect(cleanPath('/../a')).toBe('/a');
    expect(cleanPath('a//b/./c/')).toBe('a/b/c');
    expect(cleanPath('!../x')).toBe('!../x');
  });
});

describe('matching (patternmatcher test cases; a match of any parent directory counts)', () => {
  // [pattern, path, ignored]
  const cases: [string, string, boolean][] = [
    ['*', 'fileutils.go', true],
    ['*.go', 'fileutils.go', true],
    ['**', 'file', true],
    ['**/', 'file', true],
    ['**', 'dir/file', true],
    ['**/', 'dir/file', true],
    ['**/**', 'dir/file', true],
    ['dir/**', 'dir/file', true],
    ['dir/**', 'dir/dir2/file', true],
    ['**/dir', 'dir', true],
    ['**/dir', 'dir/file', true],
    ['**/dir2/*', 'dir/dir2/file', true],
    ['**/dir2/**', 'dir/dir2/dir3/file', true],
    ['**file', 'file', true],
    ['**file', 'dir/file', true],
    ['**/file', 'dir/file', true],
    ['**file', 'dir/dir/file', true],
    ['**/file', 'dir/dir/file', true],
    ['**/file*', 'dir/dir/file', true],
    ['**/file*', 'dir/dir/file.txt', true],
    ['**/file*txt', 'dir/dir/file.txt', true],
    ['**/file*.txt', 'dir/dir/file.txt', true],
    ['**/file*.txt*', 'dir/dir/file.txt', true],
    ['**/**/*.txt', 'dir/dir/file.txt', true],
    ['**/**/*.txt2', 'dir/dir/file.txt', false],
    ['**/*.txt', 'file.txt', true],
    ['**/**/*.txt', 'file.txt', true],
    ['a**/*.txt', 'a/file.txt', true],
    ['a**/*.txt', 'a/dir/file.txt', true],
    ['a**/*.txt', 'a/dir/dir/file.txt', true],
    ['a/*.txt', 'a/dir/file.txt', false],
    ['a/*.txt', 'a/file.txt', true],
    ['a/*.txt**', 'a/file.txt', true],
    ['a[b-d]e', 'ae', false],
    ['a[b-d]e', 'ace', true],
    ['a[b-d]e', 'aae', false],
    ['a[^b-d]e', 'aze', true],
    ['.*', '.foo', true],
    ['.*', 'foo', false],
    ['abc.def', 'abcdef', false],
    ['abc.def', 'abc.def', true],
    ['abc.def', 'abcZdef', false],
    ['abc?def', 'abcZdef', true],
    ['abc?def', 'abcdef', false],
    ['**/foo/bar', 'foo/bar', true],
    ['**/foo/bar', 'dir/foo/bar', true],
    ['**/foo/bar', 'dir/dir2/foo/bar', true],
    ['abc/**', 'abc', false],
    ['abc/**', 'abc/def', true],
    ['abc/**', 'abc/def/ghi', true],
    ['**/.foo', '.foo', true],
    ['**/.foo', 'bar.foo', false],
    ['a(b)c/def', 'a(b)c/def', true],
    ['a(b)c/def', 'a(b)c/xyz', false],
    ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
    ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ['a\\\\', 'a\\', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
  ];
  it.each(cases)('%s vs %s -> %s', (pattern, path, want) => {
    expect(ignored([pattern], path)).toBe(want);
  });

  // Go's filepath.Match table, as patternmatcher runs it.
  const matchTable: [string, string, boolean][] = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', true],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', '-', true],
    ['[\\-x]', 'a', false],
    ['*x', 'xxx', true],
  ];
  it.each(matchTable)('filepath.Match %s vs %s -> %s', (pattern, path, want) => {
    expect(ignored([pattern], path)).toBe(want);
  });

  const badPatterns = ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', '!'];
  it.each(badPatterns)('%s is refused', (p) => {
    expect(codeOf(() => createIgnoreMatcher([p]))).toBe('DOCKERIGNORE_PATTERN');
  });

  it('never excludes the context root', () => {
    expect(ignored(['*'], '.')).toBe(false);
    expect(ignored(['**'], '')).toBe(false);
  });

  it('normalises the paths it is given', () => {
    expect(ignored(['a/b'], './a/b/')).toBe(true);
    expect(ignored(['a/b'], '/a//b/c')).toBe(true);
  });

  it('treats "." as a pattern that excludes nothing (Docker: ignored for historical reasons)', () => {
    expect(ignored(['.'], 'anything')).toBe(false);
  });
});

describe('exceptions: the last matching pattern decides', () => {
  const multi: [string[], string, boolean][] = [
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs/', '!docs/README.md'], 'docs/README.md', false],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    [['docs', '!docs/README.md'], 'docs/other.md', true],
    [['docs', '!docs/README.md'], 'docs', true],
  ];
  it.each(multi)('%j vs %s -> %s', (patterns, path, want) => {
    expect(ignored(patterns, path)).toBe(want);
  });

  it('follows the documented .dockerignore examples', () => {
    const temp = ['*/temp*', '*/*/temp*', 'temp?'];
    expect(ignored(temp, 'somedir/temporary.txt')).toBe(true);
    expect(ignored(temp, 'somedir/temp')).toBe(true);
    expect(ignored(temp, 'somedir/temp/inner.txt')).toBe(true);
    expect(ignored(temp, 'somedir/subdir/temporary.txt')).toBe(true);
    expect(ignored(temp, 'tempa')).toBe(true);
    expect(ignored(temp, 'tempb')).toBe(true);
    expect(ignored(temp, 'temp')).toBe(false);
    expect(ignored(temp, 'temporary.txt')).toBe(false);
    expect(ignored(temp, 'a/b/c/temp.txt')).toBe(false);

    expect(ignored(['**/*.go'], 'a/b/c.go')).toBe(true);
    expect(ignored(['**/*.go'], 'c.go')).toBe(true);

    const readme = ['*.md', '!README.md'];
    expect(ignored(readme, 'CHANGES.md')).toBe(true);
    expect(ignored(readme, 'README.md')).toBe(false);

    const secretLast = ['*.md', '!README*.md', 'README-secret.md'];
    expect(ignored(secretLast, 'README-secret.md')).toBe(true);
    expect(ignored(secretLast, 'README-public.md')).toBe(false);
    expect(ignored(secretLast, 'NOTES.md')).toBe(true);

    const secretFirst = ['*.md', 'README-secret.md', '!README*.md'];
    expect(ignored(secretFirst, 'README-secret.md')).toBe(false);
    expect(ignored(secretFirst, 'README.md')).toBe(false);
  });

  it('treats /foo/bar and foo/bar alike (context root is the root)', () => {
    const a = createIgnoreMatcher(parseDockerignore('/foo/bar\n'));
    const b = createIgnoreMatcher(parseDockerignore('foo/bar\n'));
    for (const p of ['foo/bar', 'foo/bar/x', 'x/foo/bar', 'foo']) expect(a.ignores(p, false)).toBe(b.ignores(p, false));
    expect(a.ignores('foo/bar/x', false)).toBe(true);
  });
});

describe('walking: incremental state and skipping directories (fsutil)', () => {
  it('gives the same answers through match(parentState) as through ignores()', () => {
    const m = createIgnoreMatcher(['node_modules', '!node_modules/keep', '**/*.log', '!important.log', 'build/**', '!build/out/*.txt']);
    const tree = [
      'node_modules',
      'node_modules/a',
      'node_modules/a/index.js',
      'node_modules/keep',
      'node_modules/keep/x.js',
      'src',
      'src/app.log',
      'src/app.ts',
      'important.log',
      'build',
      'build/out',
      'build/out/r.txt',
      'build/out/r.bin',
    ];
    const states = new Map<string, MatchState>();
    for (const p of tree) {
      const slash = p.lastIndexOf('/');
      const parent = slash < 0 ? undefined : states.get(p.slice(0, slash));
      const s = m.match(p, parent);
      states.set(p, s);
      expect(s.ignored, p).toBe(m.ignores(p, false));
    }
    expect(tree.filter((p) => !m.ignores(p, false))).toEqual([
      'node_modules/keep',
      'node_modules/keep/x.js',
      'src',
      'src/app.ts',
      'important.log',
      'build',
      'build/out/r.txt',
    ]);
  });

  it('lets a walker skip an excluded directory only when no exception can reach into it', () => {
    expect(createIgnoreMatcher(['docs']).canSkipDir('docs')).toBe(true);
    expect(createIgnoreMatcher(['docs', '!docs/README.md']).canSkipDir('docs')).toBe(false);
    expect(createIgnoreMatcher(['docs', '!other/x']).canSkipDir('docs')).toBe(true);
    // A wildcard exception could match anywhere, so nothing excluded is skipped (fsutil).
    expect(createIgnoreMatcher(['docs', '!**/*.md']).canSkipDir('docs')).toBe(false);
    expect(createIgnoreMatcher(['docs', '!other/*.md']).canSkipDir('docs')).toBe(false);
    // A trailing /* or /** does not count as a wildcard there.
    const m = createIgnoreMatcher(['docs/**', '!docs/keep/**']);
    expect(m.canSkipDir('docs')).toBe(false); // docs itself is not excluded by docs/**
    expect(m.canSkipDir('docs/keep')).toBe(false);
    expect(m.canSkipDir('docs/other')).toBe(true);
    expect(m.ignores('docs/keep/a', false)).toBe(false);
    expect(m.ignores('docs/other/a', false)).toBe(true);
    // Not excluded: never skipped.
    expect(createIgnoreMatcher(['x']).canSkipDir('docs')).toBe(false);
  });

  it('reports whether any exception exists and keeps the cleaned patterns', () => {
    const m = createIgnoreMatcher(parseDockerignore('./a/\n!/b\n'));
    expect(m.hasExceptions).toBe(true);
    expect(m.patterns).toEqual([
      { pattern: 'a', exception: false, line: 1 },
      { pattern: 'b', exception: true, line: 2 },
    ]);
    expect(createIgnoreMatcher([]).ignores('a', false)).toBe(false);
  });
});

describe('regexp corners (Go RE2 semantics kept)', () => {
  it('handles bracket classes that hold wildcard characters as patternmatcher does', () => {
    // patternmatcher turns "*" into [^/]* even inside brackets, so "[*]" is a class of "[", "^", "/"
    // repeated, followed by a literal "]".
    expect(ignored(['a[*]'], 'a]')).toBe(true);
    expect(ignored(['a[*]'], 'a*')).toBe(false);
  });
  it('supports POSIX classes and escaped punctuation', () => {
    expect(ignored(['[[:digit:]]*.log'], '1.log')).toBe(true);
    expect(ignored(['[[:digit:]]*.log'], 'x.log')).toBe(false);
    expect(ignored(['\\#notes'], '#notes')).toBe(true);
    expect(ignored(['a\\ b'], 'a b')).toBe(true);
  });
  it('keeps ^ as an anchor once the pattern is a regexp, as Go does', () => {
    // Without wildcards the pattern is compared as text...
    expect(ignored(['a^b'], 'a^b')).toBe(true);
    // ...with one, "^" in the middle anchors at the start and can never match.
    expect(ignored(['a^b*'], 'a^b')).toBe(false);
  });
  it('does not let * or ? cross a "/" or ** match a newline-free name incorrectly', () => {
    expect(ignored(['x/*'], 'x/a\nb')).toBe(true);
    expect(ignored(['*.txt'], 'dir/a.txt')).toBe(false);
  });
});
