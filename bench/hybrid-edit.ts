/**
 * Benchmark (issue 3): the hybrid build's promise on a fresh CI runner. The data-pipeline example
 * (python base, `RUN pip install`, then COPY of the code) was pushed once by ferry, which tagged its
 * engine-built prefix in the registry. Each run edits one line of pipeline.py, then:
 *
 * - ferry: `ferry push --json` with an empty FERRY_CACHE_DIR (a new one each run) and no engine at
 *   all on PATH nor a Docker API: the prefix must come from the registry and exactly one layer
 *   (plus the config) must go up; both are checked from --json.
 * - buildah: `buildah bud --no-cache` + `buildah push` of the same edit (its base image already in
 *   its storage: a runner with a warm engine, which flatters buildah).
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makePythonBaseImage } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { benchMain, elapsedS, ferryPush, log, machine, machineLine, ms, ratio, REPO_ROOT, runsFor, summarize, table, writeResult } from './lib/common.js';
import { Buildah } from './lib/fixtures.js';

const NAME = 'hybrid-edit';

interface HybridPush {
  blobs: { uploaded: number };
  bytesUploaded: number;
  prefix?: { source: string };
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(5);
  const m = await machine();
  const reg = await startRegistry({ mode: 'open' });
  c.add(() => reg.stop());
  await makePythonBaseImage(reg, 'mirror/library/python', '3.11-slim');
  log(`registry at ${reg.host}, python base served as docker.io/library/python:3.11-slim through a mirror`);

  const dir = await c.tempDir('ctx');
  await cp(path.join(REPO_ROOT, 'examples', 'data-pipeline'), dir, { recursive: true });
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${reg.host}/bench/hybrid\nregistries:\n  mirrors:\n    docker.io: ${reg.host}/mirror\n  "${reg.host}": {insecure: true}\n`,
  );
  // buildah reads the same mirror from a registries.conf of its own.
  const conf = path.join(await c.tempDir('buildah-conf'), 'registries.conf');
  await writeFile(
    conf,
    `unqualified-search-registries = ["docker.io"]\n[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "${reg.host}/mirror"\ninsecure = true\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`,
  );
  const buildahEnv = { CONTAINERS_REGISTRIES_CONF: conf };
  const code = path.join(dir, 'pipeline.py');
  const noEngine = await c.tempDir('no-engines-bin');
  const emptyDocker = await c.tempDir('no-docker-config');

  // Seed: ferry builds the prefix with an engine (podman or buildah) and tags it in the registry.
  const seedCache = await c.tempDir('ferry-seed-cache');
  const seed = await ferryPush([], { cwd: dir, env: { FERRY_CACHE_DIR: seedCache, DOCKER_CONFIG: emptyDocker, BUILDAH_ISOLATION: 'chroot' }, timeoutMs: 600_000 });
  log(`seed: ferry push ${ms(seed.run.ms)}, prefix from ${(seed.result as unknown as HybridPush).prefix?.source ?? '?'}`);
  const buildah = await Buildah.create(c, 'nocache');
  const tag = 'localhost/bench/buildah-hybrid:latest';
  const buildahOnce = async (): Promise<{ budMs: number; pushMs: number; ms: number }> => {
    const bud = await buildah.bud(dir, tag, { layers: true, noCache: true, env: buildahEnv });
    const push = await buildah.push(tag, `${reg.host}/bench/buildah-hybrid:latest`);
    return { budMs: bud.ms, pushMs: push.ms, ms: bud.ms + push.ms };
  };
  const w = await buildahOnce();
  log(`warm-up: buildah bud + push ${ms(w.ms)} (pulls the base into its storage), not counted`);

  const ferryRuns: { ms: number; uploaded: number; bytesUploaded: number; prefix: string }[] = [];
  const buildahRuns: { budMs: number; pushMs: number; ms: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const text = await readFile(code, 'utf8');
    await writeFile(code, text.replace(/trips( \(edit \d+\))? in/, `trips (edit ${i}) in`));
    const order = i % 2 === 0 ? ['ferry', 'buildah'] : ['buildah', 'ferry'];
    for (const tool of order) {
      if (tool === 'ferry') {
        const fresh = await c.tempDir(`ferry-fresh-${i}`);
        await mkdir(fresh, { recursive: true });
        const env = { FERRY_CACHE_DIR: fresh, PATH: noEngine, DOCKER_HOST: `unix://${path.join(noEngine, 'docker.sock')}`, DOCKER_CONFIG: emptyDocker };
        const { result, run } = await ferryPush([], { cwd: dir, env, timeoutMs: 600_000 });
        const r = result as unknown as HybridPush;
        if (r.prefix?.source !== 'registry' || r.blobs.uploaded !== 2) {
          throw new Error(`expected the prefix from the registry and 2 uploads, got ${JSON.stringify(r.prefix)} and ${JSON.stringify(r.blobs)}`);
        }
        ferryRuns.push({ ms: run.ms, uploaded: r.blobs.uploaded, bytesUploaded: r.bytesUploaded, prefix: r.prefix.source });
        log(`run ${i + 1}/${runs}: ferry ${ms(run.ms)} (fresh cache, no engine), ${r.blobs.uploaded} blobs uploaded (${r.bytesUploaded} B)`);
      } else {
        const b = await buildahOnce();
        buildahRuns.push(b);
        log(`run ${i + 1}/${runs}: buildah bud --no-cache ${ms(b.budMs)} + push ${ms(b.pushMs)} = ${ms(b.ms)}`);
      }
    }
  }

  const ft = summarize(ferryRuns.map((r) => r.ms), 0);
  const bt = summarize(buildahRuns.map((r) => r.ms), 0);
  const bb = summarize(buildahRuns.map((r) => r.budMs), 0);
  const bp = summarize(buildahRuns.map((r) => r.pushMs), 0);
  const r = ratio(ft.median, bt.median);
  const goalMet = ferryRuns.every((x) => x.uploaded === 2 && x.prefix === 'registry');
  const markdown = [
    table(
      ['', 'median', 'min – max', 'notes'],
      [
        ['ferry push, fresh runner (empty cache, no engine)', ms(ft.median), `${ms(ft.min)} – ${ms(ft.max)}`, `prefix from the registry; ${ferryRuns[0]?.uploaded ?? '?'} blobs up (the code layer + config), ~${Math.round((ferryRuns[0]?.bytesUploaded ?? 0) / 1024)} KiB`],
        ['buildah bud --no-cache + buildah push', ms(bt.median), `${ms(bt.min)} – ${ms(bt.max)}`, 'base image already in its storage'],
        ['  of which buildah bud', ms(bb.median), `${ms(bb.min)} – ${ms(bb.max)}`, ''],
        ['  of which buildah push', ms(bp.median), `${ms(bp.min)} – ${ms(bp.max)}`, ''],
        ['**ratio ferry / buildah (medians)**', `**${r}**`, '', ''],
      ],
    ),
    '',
    `Goal (a code-only edit rebuilt with no engine and one layer uploaded, on a fresh runner): **${goalMet ? 'met' : 'MISSED'}** in all ${runs} runs (checked from --json). ${runs} runs each, alternating order.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Hybrid build: a code-only edit on a fresh runner',
    goal: 'a one-line edit of pipeline.py rebuilds with no engine and uploads one layer, with an empty cache; time against buildah bud --no-cache + push',
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh hybrid-edit',
    machine: m,
    method: [
      'examples/data-pipeline (FROM python:3.11-slim served through registries.mirrors from a local registry; the base is this machine\'s Debian python3 and pip packed by test/helpers/images.ts, ~30 MB).',
      'Seed, not counted: one `ferry push` with engines available builds the prefix (up to the RUN) and tags it in the registry.',
      'Each run edits one line of pipeline.py, then: ferry push --json with a new empty FERRY_CACHE_DIR, PATH pointing at an empty directory and DOCKER_HOST at a socket that does not exist (checks: prefix from the registry, 2 blobs uploaded); buildah bud --no-cache --isolation chroot + buildah push of the same context to the same registry.',
    ],
    data: { runs, ferry: { ms: ft, runs: ferryRuns }, buildah: { ms: bt, budMs: bb, pushMs: bp }, ratioFerryOverBuildah: r },
    markdown,
  });
});
