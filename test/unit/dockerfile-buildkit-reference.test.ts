/**
 * Holds the Dockerfile parser, the shell lexer and the .dockerignore matcher to what Docker's own
 * code did with the same inputs (BuildKit v0.34.2, recorded in
 * test/fixtures/dockerfiles/buildkit-reference.json; see buildkit-harness/README.md there).
 *
 * Differences tolerated on purpose:
 * - heredocs: BuildKit builds them; ferry refuses them (DOCKERFILE_HEREDOC), so where BuildKit saw
 *   a heredoc ferry must fail with that code, at or before BuildKit's own error line.
 * - a repeated stage name: BuildKit only warns; ferry fails with DOCKERFILE_DUPLICATE_STAGE.
 * - WorkingDir: BuildKit's path normalisation belongs to the builder, not to these modules, so the
 *   config mirror below only compares it where it is a plain cleaned path.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../src/core/errors.js';
import {
  commandLine,
  DEFAULT_LINUX_PATH,
  type Instruction,
  parseDockerfile,
  parseExposedPorts,
  platformArgs,
  resolveBuildPlan,
  StageScope,
} from '../../src/builders/native/dockerfile.js';
import { createIgnoreMatcher, type MatchState, parseDockerignore } from '../../src/builders/native/dockerignore.js';
import { processWord } from '../../src/builders/native/shell-words.js';

interface DockerfileCase {
  name: string;
  text: string;
  error?: string;
  errorLine?: number;
  heredoc?: boolean;
  escape?: string;
  instructions?: unknown[];
}
interface WordCase {
  escape: '\\' | '`';
  word: string;
  error?: boolean;
  result?: string;
  words?: string[];
}
interface IgnoreCase {
  dockerignore: string;
  error?: boolean;
  included?: string[];
}
interface ConfigCase {
  name: string;
  text: string;
  buildArgs: Record<string, string>;
  target?: string;
  error?: boolean;
  config?: Record<string, unknown>;
}
interface Reference {
  wordsEnv: Record<string, string>;
  dockerfiles: DockerfileCase[];
  words: WordCase[];
  dockerignore: { tree: string[]; cases: IgnoreCase[] };
  configs: ConfigCase[];
}

const ref = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'dockerfiles', 'buildkit-reference.json'), 'utf8')) as Reference;

/** ferry's instructions in the shape the recorder gave BuildKit's: [line, KIND, fields]. */
function normalise(i: Instruction): unknown[] {
  const fields = ((): unknown => {
    switch (i.kind) {
      case 'FROM':
        return [i.stageName ?? '', i.image, i.platform ?? ''];
      case 'COPY':
        return [i.dest, i.sources, i.from ?? '', i.chown ?? '', i.chmod ?? '', i.link, i.exclude, i.parents];
      case 'ADD':
        return [i.dest, i.sources, i.chown ?? '', i.chmod ?? '', i.link, i.exclude, i.keepGitDir ?? null, i.checksum ?? '', i.unpack ?? null];
      case 'RUN':
      case 'CMD':
      case 'ENTRYPOINT':
        return [i.command, i.json];
      case 'ENV':
      case 'LABEL':
        return i.pairs.map((p) => [p.key, p.value, p.legacy]);
      case 'ARG':
        return i.args.map((a) => [a.key, a.default ?? null]);
      case 'EXPOSE':
        return i.ports;
      case 'USER':
        return i.user;
      case 'WORKDIR':
        return i.path;
      case 'VOLUME':
        return i.volumes;
      case 'STOPSIGNAL':
        return i.signal;
      case 'SHELL':
        return i.shell;
      case 'HEALTHCHECK':
        return [i.test, i.interval ?? 0, i.timeout ?? 0, i.startPeriod ?? 0, i.startInterval ?? 0, i.retries ?? 0];
      case 'ONBUILD':
        return i.expression;
      case 'MAINTAINER':
        return i.maintainer;
    }
  })();
  return [i.line, i.kind, fields];
}

describe('Dockerfile parsing matches BuildKit', () => {
  it('has the recorded cases', () => {
    expect(ref.dockerfiles.length).toBeGreaterThan(300);
    expect(ref.dockerfiles.filter((c) => c.instructions !== undefined).length).toBeGreaterThan(100);
  });

  it.each(ref.dockerfiles.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let parsed: ReturnType<typeof parseDockerfile> | undefined;
    let err: unknown;
    try {
      parsed = parseDockerfile(c.text);
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      expect(isFerryError(err), `not a FerryError: ${err instanceof Error ? err.message : typeof err}`).toBe(true);
      if (!isFerryError(err)) return;
      const line = Number(err.where?.split(':').pop());
      if (err.code === 'DOCKERFILE_HEREDOC') {
        expect(c.heredoc, 'ferry saw a heredoc that BuildKit did not').toBe(true);
        if (c.errorLine !== undefined) expect(line).toBeLessThanOrEqual(c.errorLine);
        return;
      }
      if (err.code === 'DOCKERFILE_DUPLICATE_STAGE' && c.error === undefined) return;
      expect(c.error, `ferry failed (${err.code}: ${err.message}) where BuildKit did not`).toBeDefined();
      if (c.errorLine !== undefined) expect(line).toBe(c.errorLine);
      return;
    }
    expect(c.heredoc ?? false, 'BuildKit saw a heredoc that ferry did not refuse').toBe(false);
    expect(c.error, 'BuildKit failed where ferry did not').toBeUndefined();
    expect(parsed?.escapeToken).toBe(c.escape);
    expect(parsed?.instructions.map(normalise)).toEqual(c.instructions);
  });
});

describe('shell words match BuildKit', () => {
  const env = new Map(Object.entries(ref.wordsEnv));
  it.each(ref.words.map((c) => [c.word, c] as const))('%s', (_w, c) => {
    if (c.error === true) {
      expect(() => processWord(c.word, env, { escapeToken: c.escape })).toThrow();
      return;
    }
    const r = processWord(c.word, env, { escapeToken: c.escape });
    expect(r.result).toBe(c.result);
    if (c.words !== undefined) expect(r.words).toEqual(c.words);
  });
});

describe('.dockerignore matches what BuildKit sends', () => {
  // The recorded tree: directories end in "/".
  const dirs = new Set(ref.dockerignore.tree.filter((p) => p.endsWith('/')).map((p) => p.slice(0, -1)));
  const all = ref.dockerignore.tree.map((p) => p.replace(/\/$/, ''));
  const children = (dir: string): string[] =>
    all.filter((p) => (dir === '' ? !p.includes('/') : p.startsWith(dir + '/') && !p.slice(dir.length + 1).includes('/'))).sort();

  /** A walker as fsutil's: skip what may be skipped, keep parents of what is kept. */
  function walk(text: string): string[] {
    const m = createIgnoreMatcher(parseDockerignore(text));
    const out = new Set<string>();
    const visit = (dir: string, parent: MatchState | undefined): void => {
      for (const p of children(dir)) {
        const state = m.match(p, parent);
        const isDir = dirs.has(p);
        if (state.ignored) {
          if (isDir && !m.canSkipDir(p)) visit(p, state);
          continue;
        }
        const parts = p.split('/');
        for (let k = 1; k < parts.length; k++) out.add(parts.slice(0, k).join('/'));
        out.add(p);
        if (isDir) visit(p, state);
      }
    };
    visit('', undefined);
    return [...out].sort();
  }

  it.each(ref.dockerignore.cases.map((c, i) => [i, JSON.stringify(c.dockerignore).slice(0, 60), c] as const))('#%i %s', (_i, _t, c) => {
    if (c.error === true) {
      expect(() => walk(c.dockerignore)).toThrow();
      return;
    }
    expect(walk(c.dockerignore)).toEqual([...(c.included ?? [])].sort());
  });
});

describe('build-time variables give the image config BuildKit gives', () => {
  /** The config a builder makes from StageScope, as far as these modules decide it. */
  function config(c: ConfigCase): Record<string, unknown> {
    const df = parseDockerfile(c.text);
    const plan = resolveBuildPlan(df, {
      ...(c.target !== undefined ? { target: c.target } : {}),
      buildArgs: c.buildArgs,
      builtinArgs: platformArgs({ buildPlatform: 'linux/amd64', targetPlatform: 'linux/amd64' }),
    });
    type Cfg = Record<string, unknown> & { Env?: string[]; Shell?: string[]; WorkingDir?: string; Cmd?: string[] };
    const done = new Map<number, { cfg: Cfg; scope: StageScope }>();
    for (const st of plan.required) {
      let cfg: Cfg;
      let scope: StageScope;
      const parent = st.base.kind === 'stage' ? done.get(st.base.index) : undefined;
      if (parent !== undefined) {
        cfg = structuredClone(parent.cfg);
        scope = parent.scope.child();
      } else if (st.base.kind === 'scratch') {
        cfg = { Env: [`PATH=${DEFAULT_LINUX_PATH}`], WorkingDir: '/' };
        scope = StageScope.fromPlan(plan, cfg.Env);
      } else {
        cfg = { Env: ['PATH=/usr/bin:/bin', 'HOME=/root'], Cmd: ['/bin/sh'] };
        scope = StageScope.fromPlan(plan, cfg.Env);
      }
      let cmdSet = false;
      for (const raw of st.instructions) {
        const i = scope.apply(raw);
        const shell = cfg.Shell ?? ['/bin/sh', '-c'];
        const obj = (k: string): Record<string, unknown> => {
          const cur = (cfg[k] ?? {}) as Record<string, unknown>;
          cfg[k] = cur;
          return cur;
        };
        switch (i.kind) {
          case 'ENV':
            cfg.Env = scope.configEnv;
            break;
          case 'LABEL':
            for (const p of i.pairs) obj('Labels')[p.key] = p.value;
            break;
          case 'WORKDIR':
            cfg.WorkingDir = path.posix.normalize(path.posix.isAbsolute(i.path) ? i.path : path.posix.join(cfg.WorkingDir ?? '/', i.path)).replace(/(.)\/$/, '$1');
            break;
          case 'USER':
            cfg.User = i.user;
            break;
          case 'EXPOSE':
            for (const p of parseExposedPorts(i.ports)) obj('ExposedPorts')[p] = {};
            break;
          case 'ENTRYPOINT':
            cfg.Entrypoint = i.json && i.command.length === 0 ? null : commandLine(i, shell);
            if (!cmdSet) delete cfg.Cmd;
            break;
          case 'CMD':
            cfg.Cmd = commandLine(i, shell);
            cmdSet = true;
            break;
          case 'SHELL':
            cfg.Shell = i.shell;
            break;
          case 'STOPSIGNAL':
            cfg.StopSignal = i.signal;
            break;
          case 'VOLUME':
            for (const v of i.volumes) obj('Volumes')[v] = {};
            break;
          case 'HEALTHCHECK': {
            const h: Record<string, unknown> = { Test: i.test };
            if (i.interval) h.Interval = i.interval;
            if (i.timeout) h.Timeout = i.timeout;
            if (i.startPeriod) h.StartPeriod = i.startPeriod;
            if (i.startInterval) h.StartInterval = i.startInterval;
            if (i.retries) h.Retries = i.retries;
            cfg.Healthcheck = h;
            break;
          }
          default:
            break;
        }
      }
      done.set(st.index, { cfg, scope });
    }
    return done.get(plan.target.index)?.cfg ?? {};
  }

  it.each(ref.configs.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    if (c.error === true) {
      expect(() => config(c)).toThrow();
      return;
    }
    const want = { ...(c.config ?? {}) };
    const got = config(c);
    if (typeof want.WorkingDir === 'string' && want.WorkingDir.includes('//')) {
      delete want.WorkingDir;
      delete got.WorkingDir;
    }
    expect(got).toEqual(want);
  });
});
