import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FerryError, isFerryError } from '../../src/core/errors.js';
import {
  assertNativeBuildable,
  commandLine,
  type Dockerfile,
  expandInstruction,
  findNativeBlocker,
  findStage,
  type Instruction,
  isLocalArchiveName,
  isRemoteSource,
  parseDockerfile,
  parseExposedPorts,
  parseGoDuration,
  platformArgs,
  resolveBuildPlan,
  resolveCopySource,
  selectTarget,
  StageScope,
} from '../../src/builders/native/dockerfile.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'dockerfiles');

function caught(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (e) {
    if (isFerryError(e)) return e;
    throw e;
  }
  throw new Error('expected an error, got none');
}

/** What `ferry build` does with a Dockerfile before building natively. */
function pipeline(text: string, file: string): void {
  const df = parseDockerfile(text, { file });
  const plan = resolveBuildPlan(df, { builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/amd64' }) });
  assertNativeBuildable(plan);
}

const parse = (text: string): Dockerfile => parseDockerfile(text);
const stage0 = (text: string): Instruction[] => parse(text).stages[0]?.instructions ?? [];

describe('corpus of malformed Dockerfiles (test/fixtures/dockerfiles/bad)', () => {
  const dir = path.join(FIXTURES, 'bad');
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, { code: string; line: number }>;

  it('lists every fixture file in expected.json', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile')).sort();
    expect(Object.keys(expected).sort()).toEqual(files);
    expect(files.length).toBeGreaterThan(80);
  });

  it.each(Object.entries(expected))('%s -> %o', (name, want) => {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const e = caught(() => {
      pipeline(text, name);
    });
    expect({ code: e.code, where: e.where }).toEqual({ code: want.code, where: `${name}:${want.line}` });
    expect(e.exitCode).toBe(65);
    expect(e.suggestions.length).toBeGreaterThan(0);
  });
});

describe('well-formed Dockerfiles (test/fixtures/dockerfiles/good)', () => {
  const dir = path.join(FIXTURES, 'good');
  const names = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile'));

  it('has fixtures', () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
  });

  it.each(names)('%s parses to the expected instructions', (name) => {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const want = JSON.parse(readFileSync(path.join(dir, name.replace(/\.Dockerfile$/, '.json')), 'utf8')) as Record<string, unknown>;
    const df = parseDockerfile(text, { file: name });
    const got = {
      escapeToken: df.escapeToken,
      ...(df.syntax !== undefined ? { syntax: df.syntax } : {}),
      directives: df.directives,
      metaArgs: df.metaArgs,
      stages: df.stages,
      warnings: df.warnings.map((w) => ({ code: w.code, line: w.line })),
    };
    expect(got).toMatchObject(want);
    // Every good file also resolves into a build plan.
    const plan = resolveBuildPlan(df, { builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/arm64' }) });
    expect(plan.target.index).toBe(df.stages.length - 1);
  });
});

describe('lines, comments and continuations', () => {
  it('keeps 1-based start and end lines across continuations, comments and blank lines', () => {
    const df = parse('\n\n# c\nFROM alpine\n\nRUN a \\\n  b \\\n  # note\n  c\n\nCMD x\n');
    const [run, cmd] = df.stages[0]?.instructions ?? [];
    expect(df.stages[0]?.from.line).toBe(4);
    expect(run).toMatchObject({ kind: 'RUN', line: 6, endLine: 9, command: ['a   b   c'] });
    expect(cmd).toMatchObject({ kind: 'CMD', line: 11, endLine: 11 });
  });

  it('reads CRLF files, a BOM and a last line without newline', () => {
    const df = parse('\uFEFFFROM alpine\r\nRUN a \\\r\n  b\r\nCMD ["x"]');
    expect(df.stages[0]?.from.image).toBe('alpine');
    expect(df.stages[0]?.instructions.map((i) => [i.kind, i.line])).toEqual([
      ['RUN', 2],
      ['CMD', 4],
    ]);
    expect(df.stages[0]?.instructions[0]).toMatchObject({ command: ['a   b'] });
  });

  it('does not continue a line ending in an escaped escape character', () => {
    const [a, b] = stage0('FROM alpine\nRUN echo a\\\\\nRUN echo b\n');
    expect(a).toMatchObject({ kind: 'RUN', command: ['echo a\\\\'], endLine: 2 });
    expect(b).toMatchObject({ kind: 'RUN', line: 3 });
  });

  it('allows blanks after the continuation character and ends at end of file', () => {
    const [a] = stage0('FROM alpine\nRUN echo a \\   \t\n');
    expect(a).toMatchObject({ command: ['echo a'], line: 2, endLine: 2 });
  });

  it('accepts instruction names in any case', () => {
    const df = parse('from alpine as B\nCoPy a /b\nEnTrYpOiNt ["x"]\n');
    expect(df.stages[0]?.name).toBe('b');
    expect(df.stages[0]?.instructions.map((i) => i.kind)).toEqual(['COPY', 'ENTRYPOINT']);
  });

  it('stops reading directives at the first instruction, comment or blank line', () => {
    expect(parse('FROM alpine\n# escape=`\n').escapeToken).toBe('\\');
    expect(parse('\n# escape=`\nFROM alpine\n').escapeToken).toBe('\\');
    expect(parse('# escape=`\n# syntax=docker/dockerfile:1\nFROM alpine\n').directives.map((d) => d.name)).toEqual(['escape', 'syntax']);
    expect(parse('  # escape=`\nFROM alpine\n').escapeToken).toBe('`');
  });

  it('warns when # syntax names a frontend other than the stable docker/dockerfile:1', () => {
    expect(parse('# syntax=docker/dockerfile:1.7-labs\nFROM alpine\n').warnings.map((w) => w.code)).toEqual(['DOCKERFILE_SYNTAX_IGNORED']);
    expect(parse('# syntax=docker.io/docker/dockerfile:1\nFROM alpine\n').warnings).toEqual([]);
  });

  it('refuses lines longer than Docker does', () => {
    const e = caught(() => parse(`FROM alpine\nLABEL a="${'x'.repeat(70_000)}"\n`));
    expect(e.code).toBe('DOCKERFILE_SYNTAX');
    expect(e.where).toBe('Dockerfile:2');
  });

  it('uses the display name in `where`', () => {
    const e = caught(() => parseDockerfile('FROM alpine\nBOGUS x\n', { file: 'sub/Dockerfile.prod' }));
    expect(e.where).toBe('sub/Dockerfile.prod:2');
  });

  it('suggests the nearest instruction for a typo', () => {
    expect(caught(() => parse('FORM alpine\n')).suggestions[0]).toContain('FROM');
    expect(caught(() => parse('FROM alpine\nENTRYPIONT ["x"]\n')).suggestions[0]).toContain('ENTRYPOINT');
    expect(caught(() => parse('FROM alpine\nCOPY --form=a b c\n')).suggestions[0]).toContain('--from');
  });
});

describe('flags', () => {
  it('takes only leading --words, honours quotes and stops at "--"', () => {
    const [c] = stage0('FROM alpine\nCOPY --chown="a b" --link /src/--x -- /dst\n');
    expect(c).toMatchObject({ kind: 'COPY', chown: 'a b', link: true, sources: ['/src/--x', '--'], dest: '/dst' });
    const [d] = stage0('FROM alpine\nCOPY --link -- --from=x /dst\n');
    expect(d).toMatchObject({ kind: 'COPY', link: true, sources: ['--from=x'], dest: '/dst' });
    expect(d).not.toHaveProperty('from');
  });

  it('parses RUN mounts and repeats', () => {
    const [r] = stage0('FROM alpine\nRUN --mount=type=secret,id=a --mount=type=ssh --device=x echo\n');
    expect(r).toMatchObject({ kind: 'RUN', mounts: ['type=secret,id=a', 'type=ssh'], devices: ['x'], command: ['echo'] });
  });
});

describe('values as written', () => {
  it('keeps WORKDIR/USER/MAINTAINER/STOPSIGNAL text whole, spaces included', () => {
    const i = stage0('FROM alpine\nWORKDIR /my dir\nUSER  app user \n');
    expect(i[0]).toMatchObject({ kind: 'WORKDIR', path: '/my dir' });
    expect(i[1]).toMatchObject({ kind: 'USER', user: 'app user' });
  });

  it('splits FROM/EXPOSE/shell-form COPY on blanks without looking at quotes, as Docker does', () => {
    const [c] = stage0('FROM alpine\nCOPY "a b" /dst\n');
    expect(c).toMatchObject({ sources: ['"a', 'b"'], dest: '/dst' });
  });

  it('keeps ENV quotes for expansion to remove, and the legacy form', () => {
    const [e1, e2] = stage0('FROM alpine\nENV A="x y" B=\'$z\'\nENV LEG  spaced   value \n');
    expect(e1).toMatchObject({ pairs: [{ key: 'A', value: '"x y"' }, { key: 'B', value: "'$z'" }] });
    expect(e2).toMatchObject({ pairs: [{ key: 'LEG', value: 'spaced   value', legacy: true }] });
  });

  it('parses HEALTHCHECK durations the way Go does', () => {
    const [h] = stage0('FROM alpine\nHEALTHCHECK --interval=1m30s --timeout=1.5s --start-interval=500ms --start-period=0 CMD ["true"]\n');
    expect(h).toMatchObject({ interval: 90e9, timeout: 1.5e9, startInterval: 5e8, startPeriod: 0, test: ['CMD', 'true'] });
    expect(parseGoDuration('2h45m')).toBe((2 * 3600 + 45 * 60) * 1e9);
    expect(parseGoDuration('1µs')).toBe(1000);
    expect(parseGoDuration('.5s')).toBe(5e8);
    expect(parseGoDuration('5')).toBeUndefined();
    expect(parseGoDuration('')).toBeUndefined();
    expect(parseGoDuration('-1s')).toBe(-1e9);
  });

  it('lets HEALTHCHECK NONE pass with flags Docker never reads', () => {
    const [h] = stage0('FROM alpine\nHEALTHCHECK --bogus NONE\n');
    expect(h).toMatchObject({ kind: 'HEALTHCHECK', test: ['NONE'] });
  });
});

describe('stages and targets', () => {
  const text = ['ARG TAG=3.19', 'FROM alpine:${TAG} AS Base', 'FROM base AS build', 'COPY --from=0 /a /a', 'FROM scratch AS final', 'COPY --from=BUILD /a /a', 'FROM debian AS unrelated', 'RUN true', ''].join('\n');

  it('finds stages by (lowercased) name or index and selects targets like --target', () => {
    const df = parse(text);
    expect(df.stages.map((s) => s.name)).toEqual(['base', 'build', 'final', 'unrelated']);
    expect(findStage(df, 'BASE')?.index).toBe(0);
    expect(findStage(df, 2)?.name).toBe('final');
    expect(findStage(df, 'nope')).toBeUndefined();
    expect(selectTarget(df).name).toBe('unrelated');
    expect(selectTarget(df, 'Final').index).toBe(2);
    const e = caught(() => selectTarget(df, 'finale'));
    expect(e.code).toBe('DOCKERFILE_STAGE_NOT_FOUND');
    expect(e.suggestions[0]).toContain('final');
  });

  it('resolves bases, COPY --from and the stages a target needs', () => {
    const df = parse(text);
    const plan = resolveBuildPlan(df, { target: 'final' });
    expect(plan.stages.map((s) => s.base)).toEqual([
      { kind: 'image', ref: 'alpine:3.19' },
      { kind: 'stage', index: 0, name: 'base' },
      { kind: 'scratch' },
      { kind: 'image', ref: 'debian' },
    ]);
    expect(plan.required.map((s) => s.name)).toEqual(['base', 'build', 'final']);
    const copy = plan.stages[2]?.instructions[0];
    expect(copy?.kind === 'COPY' ? resolveCopySource(plan, copy) : undefined).toEqual({ kind: 'stage', index: 1 });
    // The RUN in the unrelated stage does not block a native build of "final".
    expect(findNativeBlocker(plan)).toBeUndefined();
    expect(findNativeBlocker(resolveBuildPlan(df))?.instruction.line).toBe(8);
  });

  it('treats an unknown COPY --from name as an image, and refuses variables there as Docker does', () => {
    const plan = resolveBuildPlan(parse('FROM alpine\nCOPY --from=nginx:1.25 /etc/nginx /n\n'));
    const [a] = plan.target.instructions;
    expect(a?.kind === 'COPY' ? resolveCopySource(plan, a) : undefined).toEqual({ kind: 'image', ref: 'nginx:1.25' });
    expect(plan.target.dependsOn).toEqual([]);
    const e = caught(() => resolveBuildPlan(parse('ARG IMG=x\nFROM alpine\nRUN true\nCOPY --from=$IMG /x /y\n')));
    expect([e.code, e.where]).toEqual(['DOCKERFILE_FLAG_VALUE', 'Dockerfile:4']);
  });

  it('matches FROM against earlier stage names only, and exactly', () => {
    const plan = resolveBuildPlan(parse('FROM later AS first\nFROM alpine AS later\nFROM Later\n'));
    expect(plan.stages.map((s) => s.base.kind)).toEqual(['image', 'image', 'image']);
    expect(resolveBuildPlan(parse('FROM alpine AS a\nFROM a\n')).stages[1]?.base).toEqual({ kind: 'stage', index: 0, name: 'a' });
  });

  it('ignores a forward COPY --from in a stage the target does not need', () => {
    const plan = resolveBuildPlan(parse('FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\n'), { target: 'b' });
    expect(plan.required.map((s) => s.name)).toEqual(['b']);
    expect(caught(() => resolveBuildPlan(parse('FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\n'), { target: 'a' })).code).toBe('DOCKERFILE_STAGE_ORDER');
  });
});

describe('global ARGs and build args in FROM', () => {
  const text = 'ARG REG=docker.io\nARG IMAGE=${REG}/library/alpine\nARG TAG\nFROM --platform=$TARGETPLATFORM ${IMAGE}:${TAG:-latest}\n';

  it('expands FROM with global ARG defaults, in order', () => {
    const plan = resolveBuildPlan(parse(text), { builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/arm64/v8' }) });
    expect(plan.target.resolvedBaseName).toBe('docker.io/library/alpine:latest');
    expect(plan.target.resolvedPlatform).toBe('linux/arm64');
    expect(plan.globalArgs.has('TAG')).toBe(false);
  });

  it('lets --build-arg override defaults and the automatic platform ARGs', () => {
    const plan = resolveBuildPlan(parse(text), {
      buildArgs: { REG: 'ghcr.io', TAG: '3.20', TARGETPLATFORM: 'linux/riscv64' },
      builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/amd64' }),
    });
    expect(plan.target.resolvedBaseName).toBe('ghcr.io/library/alpine:3.20');
    expect(plan.target.resolvedPlatform).toBe('linux/riscv64');
  });

  it('does not let an undeclared build arg into FROM', () => {
    const plan = resolveBuildPlan(parse('FROM alpine:${V:-1}\n'), { buildArgs: { V: '2' } });
    expect(plan.target.resolvedBaseName).toBe('alpine:1');
  });

  it('names the target stage in TARGETSTAGE', () => {
    const plan = resolveBuildPlan(parse('FROM alpine AS one\nFROM alpine AS two\n'), { target: 'one' });
    expect(plan.globalArgs.get('TARGETSTAGE')).toBe('one');
  });

  it('normalises platforms like containerd', () => {
    const a = platformArgs({ buildPlatform: 'linux/x86_64', targetPlatform: 'linux/aarch64', targetStage: 'x' });
    expect(Object.fromEntries(a)).toMatchObject({ BUILDARCH: 'amd64', TARGETARCH: 'arm64', TARGETVARIANT: '', TARGETPLATFORM: 'linux/arm64', TARGETSTAGE: 'x' });
    expect(platformArgs({ buildPlatform: 'linux/arm', targetPlatform: 'linux/armhf' }).get('TARGETPLATFORM')).toBe('linux/arm/v7');
  });
});

describe('StageScope: expansion at build time', () => {
  const build = (text: string, buildArgs: Record<string, string> = {}, imageEnv: string[] = []) => {
    const df = parseDockerfile(text);
    const plan = resolveBuildPlan(df, { buildArgs, builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/arm64' }) });
    const scope = StageScope.fromPlan(plan, imageEnv);
    const out = plan.target.instructions.map((i) => scope.apply(i));
    return { out, scope };
  };

  it('expands ENV pairs against the environment from before the instruction', () => {
    const { out, scope } = build('FROM alpine\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n');
    expect(out[1]).toMatchObject({ pairs: [{ key: 'abc', value: 'bye' }, { key: 'def', value: 'hello' }] });
    expect(scope.env.get('ghi')).toBe('bye');
  });

  it('removes quotes and keeps inner spaces in ENV and LABEL values', () => {
    const { out, scope } = build('FROM alpine\nENV A="x  y" B=\'$HOME\' C=a\\ b\nLABEL "my label"="v $A"\n');
    expect(out[0]).toMatchObject({ pairs: [{ value: 'x  y' }, { value: '$HOME' }, { value: 'a b' }] });
    expect(out[1]).toMatchObject({ pairs: [{ key: 'my label', value: 'v x  y' }] });
    expect(scope.configEnv).toContain('A=x  y');
  });

  it('starts from the image env and ensures PATH; ARG values are not in the config env', () => {
    const { scope } = build('FROM alpine\nARG V=1\nENV W=$V\n', {}, ['HOME=/root']);
    expect(scope.env.get('PATH')).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(scope.env.get('V')).toBe('1');
    expect(scope.configEnv).toEqual(['HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'W=1']);
  });

  it('keeps global ARGs out of a stage until it redeclares them', () => {
    const { out } = build('ARG G=global\nFROM alpine\nWORKDIR /a/$G\nARG G\nWORKDIR /b/$G\nARG TARGETARCH\nUSER $TARGETARCH\n');
    expect(out.map((i) => (i.kind === 'WORKDIR' ? i.path : i.kind === 'USER' ? i.user : i.kind))).toEqual(['/a/', 'ARG', '/b/global', 'ARG', 'arm64']);
  });

  it('gives --build-arg precedence over ARG defaults and expands defaults with the stage env', () => {
    const { out, scope } = build('FROM alpine\nENV BASE=/opt\nARG DIR=$BASE/app\nARG MODE=dev\n', { MODE: 'prod' });
    expect(out[1]).toMatchObject({ args: [{ key: 'DIR', default: '$BASE/app', value: '/opt/app' }] });
    expect(scope.env.get('MODE')).toBe('prod');
  });

  it('expands COPY/ADD sources, dest, --chown and --chmod but not --from; EXPOSE splits words', () => {
    const { out } = build('FROM alpine\nARG SRC="a b" U=app M=0755 S=x\nCOPY --from=alpine:3 --chown=$U --chmod=$M $SRC ${SRC}2 /dst/$U/\nEXPOSE $PORTS "$ONE" 9\n', { PORTS: '80  443/udp' });
    expect(out[1]).toMatchObject({ kind: 'COPY', from: 'alpine:3', chown: 'app', chmod: '0755', sources: ['a b', 'a b2'], dest: '/dst/app/' });
    // PORTS is not declared with ARG in the stage, so it stays empty there.
    expect(out[2]).toMatchObject({ kind: 'EXPOSE', ports: ['9'] });
    const withArg = build('FROM alpine\nARG PORTS\nEXPOSE $PORTS 9\n', { PORTS: '80  443/udp' });
    expect(withArg.out[1]).toMatchObject({ kind: 'EXPOSE', ports: ['80', '443/udp', '9'] });
  });

  it('does not expand RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD', () => {
    const text = 'FROM alpine\nENV X=1\nRUN echo $X\nCMD echo $X\nENTRYPOINT ["$X"]\nHEALTHCHECK CMD $X\nONBUILD COPY $X /\n';
    const { out } = build(text);
    expect(out.slice(1).map((i) => (i.kind === 'ONBUILD' ? i.expression : 'command' in i ? i.command[0] : i.kind === 'HEALTHCHECK' ? i.test[1] : ''))).toEqual([
      'echo $X',
      'echo $X',
      '$X',
      '$X',
      'COPY $X /',
    ]);
  });

  it('uses the escape directive when expanding', () => {
    const { out } = build('# escape=`\nFROM alpine\nENV P=c:\\dir`$X\nWORKDIR $P\n');
    expect(out[1]).toMatchObject({ kind: 'WORKDIR', path: 'c:\\dir$X' });
  });

  it('lets a child stage inherit the parent scope, ARG values included', () => {
    const df = parseDockerfile('FROM alpine AS a\nARG V=1\nENV E=2\nFROM a\nWORKDIR /$V/$E\n');
    const plan = resolveBuildPlan(df);
    const a = StageScope.fromPlan(plan, []);
    for (const i of plan.stages[0]?.instructions ?? []) a.apply(i);
    const b = a.child();
    expect(b.apply(plan.stages[1]?.instructions[0] as Instruction)).toMatchObject({ path: '/1/2' });
    expect(b.configEnv).toEqual(a.configEnv);
  });

  it('reports expansion errors with file and line', () => {
    const df = parseDockerfile('FROM alpine\nWORKDIR ${DIR:?set DIR}\nUSER "unterminated\n', { file: 'app/Dockerfile' });
    const plan = resolveBuildPlan(df);
    const scope = StageScope.fromPlan(plan);
    const [w, u] = plan.target.instructions;
    const e1 = caught(() => scope.apply(w as Instruction));
    expect([e1.code, e1.where, e1.exitCode]).toEqual(['DOCKERFILE_VARIABLE_UNSET', 'app/Dockerfile:2', 65]);
    const e2 = caught(() => scope.apply(u as Instruction));
    expect([e2.code, e2.where]).toEqual(['DOCKERFILE_SYNTAX', 'app/Dockerfile:3']);
  });

  it('makes the checks Docker makes on expanded COPY/ADD sources', () => {
    const run = (text: string, args: Record<string, string> = {}) => () => build(text, args);
    expect(caught(run('FROM alpine\nARG U\nCOPY $U /x\n', { U: 'https://example.com/a' })).code).toBe('DOCKERFILE_COPY_URL');
    expect(caught(run('FROM alpine\nCOPY git@github.com:a/b.git /x\n')).code).toBe('DOCKERFILE_COPY_URL');
    expect(caught(run('FROM alpine\nADD --checksum=sha256:abc local.txt /x\n')).code).toBe('DOCKERFILE_FLAG_VALUE');
    expect(build('FROM alpine\nADD --checksum=0123abc https://github.com/a/b.git /x\n').out[0]).toMatchObject({ checksum: '0123abc' });
    expect(caught(run('FROM alpine\nADD --checksum=sha256:abc http://a/b http://a/c /x/\n')).code).toBe('DOCKERFILE_FLAG_VALUE');
    expect(caught(run('FROM alpine\nADD --checksum=nonsense http://a/b /x\n')).code).toBe('DOCKERFILE_FLAG_VALUE');
    expect(build('FROM alpine\nARG SUM=sha256:0123abcd\nADD --checksum=$SUM http://a/b /x\n').out[1]).toMatchObject({ checksum: 'sha256:0123abcd' });
  });

  it('expandInstruction expands one instruction with a given env', () => {
    const [w] = stage0('FROM alpine\nVOLUME $A ["x"]\n');
    // Not JSON as a whole, so split on blanks; expansion then removes the quotes of the second word.
    expect(expandInstruction(w as Instruction, { A: '/data' })).toMatchObject({ volumes: ['/data', '[x]'] });
  });
});

describe('native buildability', () => {
  const planOf = (text: string) => resolveBuildPlan(parseDockerfile(text));

  it('accepts what the native builder can build', () => {
    const text = [
      'ARG BASE=alpine',
      'FROM $BASE AS build',
      'COPY --chown=1:1 --chmod=0644 --link src/ /app/',
      'ADD local.txt /x',
      'ADD --unpack=false vendor.tar.gz /opt/',
      'FROM scratch',
      'COPY --from=build /app /app',
      'COPY --from=nginx:1 /etc/nginx /nginx',
      'ENV A=1',
      'LABEL b=2',
      'WORKDIR /app',
      'USER 1000',
      'EXPOSE 80',
      'VOLUME /data',
      'STOPSIGNAL SIGINT',
      'SHELL ["/bin/ash", "-c"]',
      'HEALTHCHECK CMD ["/app", "ping"]',
      'MAINTAINER x',
      'ENTRYPOINT ["/app"]',
      'CMD run',
      '',
    ].join('\n');
    expect(findNativeBlocker(planOf(text))).toBeUndefined();
    expect(() => {
      assertNativeBuildable(planOf(text));
    }).not.toThrow();
  });

  it('reports the first blocker by line with a next step', () => {
    const b = findNativeBlocker(planOf('FROM alpine AS a\nRUN x\nFROM alpine\nADD https://x/y.tgz /\nCOPY --from=a / /\n'));
    expect(b?.instruction.kind).toBe('RUN');
    expect(b?.instruction.line).toBe(2);
    const e = caught(() => {
      assertNativeBuildable(planOf('FROM alpine\nADD http://example.com/f /f\n'));
    });
    expect(e.code).toBe('NATIVE_UNSUPPORTED');
    expect(e.where).toBe('Dockerfile:2');
    expect(e.suggestions.join(' ')).toContain('--builder auto');
    expect(e.details).toMatchObject({ instruction: 'ADD', line: 2 });
  });

  it('lets a builder declare support for COPY --exclude and --parents', () => {
    const plan = planOf('FROM alpine\nCOPY --exclude=*.md --parents a/./b /c/\n');
    expect(findNativeBlocker(plan)?.reason).toContain('--parents');
    expect(findNativeBlocker(plan, { allow: ['copy-parents'] })?.reason).toContain('--exclude');
    expect(findNativeBlocker(plan, { allow: ['copy-parents', 'copy-exclude'] })).toBeUndefined();
  });

  it('classifies ADD sources', () => {
    for (const s of ['http://a/b', 'https://a/b.tar.gz', 'git://host/repo', 'ssh://git@host/repo.git', 'git@github.com:moby/moby.git']) {
      expect(isRemoteSource(s), s).toBe(true);
    }
    for (const s of ['file.txt', './a:b', 'dir/', 'user@host', 'a/b@c:d']) expect(isRemoteSource(s), s).toBe(false);
    for (const s of ['a.tar', 'a.TAR.GZ', 'b.tgz', 'c.tar.bz2', 'd.tar.xz', 'e.tar.zst']) expect(isLocalArchiveName(s), s).toBe(true);
    for (const s of ['a.gz', 'a.zip', 'tar', 'a.tar.bak']) expect(isLocalArchiveName(s), s).toBe(false);
  });
});

describe('helpers', () => {
  it('builds the argv for exec and shell forms', () => {
    expect(commandLine({ command: ['/app', '-v'], json: true })).toEqual(['/app', '-v']);
    expect(commandLine({ command: ['echo hi'], json: false })).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(commandLine({ command: ['x'], json: false }, ['pwsh', '-c'])).toEqual(['pwsh', '-c', 'x']);
  });

  it('turns EXPOSE words into ExposedPorts keys', () => {
    expect(parseExposedPorts(['80', '443/UDP', '5000-5002/tcp', '127.0.0.1:8080:80/sctp'])).toEqual([
      '80/tcp',
      '443/udp',
      '5000/tcp',
      '5001/tcp',
      '5002/tcp',
      '80/sctp',
    ]);
    for (const bad of ['abc', '80/icmp', '70000', '90-80', '/tcp']) {
      expect(caught(() => parseExposedPorts([bad], 'Dockerfile:3')).code).toBe('DOCKERFILE_BAD_PORT');
    }
  });
});
