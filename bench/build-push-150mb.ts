/**
 * Benchmark 1: build and push an image with a 150 MB random-data layer to a local registry.
 * ferry (`ferry push`, which builds first) against `buildah bud` + `buildah push` of the same
 * context to the same registry, in the same run, with fresh caches every time for both.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  benchMain,
  elapsedS,
  ferryPush,
  log,
  machine,
  machineLine,
  mib,
  ms,
  randomFile,
  ratio,
  runOk,
  runsFor,
  summarize,
  table,
  writeResult,
  type FerryPushResult,
} from './lib/common.js';
import { Buildah, startWorld, writeContext } from './lib/fixtures.js';

const NAME = 'build-push-150mb';
const SIZE = 150 * 1024 * 1024;

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(7);
  const m = await machine();
  const { reg, base } = await startWorld(c);

  /** One context per run: fresh data, so no cache of either tool (buildah's blob-info cache included) knows it. */
  const makeContext = async (label: string, bytes: number): Promise<string> => {
    const dir = await c.tempDir(`ctx-${label}`);
    await writeContext(dir, {
      dockerfile: `FROM ${base.ref}\nCOPY data.bin /data/data.bin\n`,
      imageName: `${reg.host}/bench/unused`,
      insecureHost: reg.host,
    });
    await randomFile(path.join(dir, 'data.bin'), bytes);
    return dir;
  };

  const ferryOnce = async (dir: string, repo: string): Promise<{ ms: number; rssKb: number; result: FerryPushResult }> => {
    const cache = await c.tempDir('ferry-cache');
    try {
      const { result, run } = await ferryPush(['--image', `${reg.host}/${repo}`], {
        cwd: dir,
        env: { FERRY_CACHE_DIR: cache, DOCKER_CONFIG: path.join(cache, 'no-docker-config') },
      });
      // The base layer is mounted from library/busybox; the COPY layer and the config go up.
      if (result.blobs.uploaded !== 2 || result.blobs.mounted !== 1) throw new Error(`unexpected push: ${JSON.stringify(result.blobs)}`);
      return { ms: run.ms, rssKb: run.maxRssKb, result };
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  };

  const buildahOnce = async (dir: string, repo: string): Promise<{ budMs: number; pushMs: number; ms: number; rssKb: number }> => {
    const b = await Buildah.create(c, 'fresh');
    try {
      const bud = await b.bud(dir, `localhost/${repo}:latest`, { layers: false });
      const push = await b.push(`localhost/${repo}:latest`, `${reg.host}/${repo}:latest`);
      return { budMs: bud.ms, pushMs: push.ms, ms: bud.ms + push.ms, rssKb: Math.max(bud.maxRssKb, push.maxRssKb) };
    } finally {
      await b.destroy();
    }
  };

  log('warm-up (1 MiB layer, not counted): page cache for node, ferry, buildah');
  {
    const dir = await makeContext('warmup', 1024 * 1024);
    await ferryOnce(dir, 'bench/warmup-ferry');
    await buildahOnce(dir, 'bench/warmup-buildah');
    await rm(dir, { recursive: true, force: true });
  }

  const ferryRuns: { ms: number; rssKb: number }[] = [];
  const buildahRuns: { budMs: number; pushMs: number; ms: number; rssKb: number }[] = [];
  let checked = '';
  for (let i = 0; i < runs; i++) {
    const dir = await makeContext(`run${i}`, SIZE);
    // Alternate who goes first, so neither tool always gets the cooler machine or the warmer page cache.
    const order = i % 2 === 0 ? ['ferry', 'buildah'] : ['buildah', 'ferry'];
    for (const tool of order) {
      if (tool === 'ferry') {
        const f = await ferryOnce(dir, `bench/ferry-${i}`);
        ferryRuns.push({ ms: f.ms, rssKb: f.rssKb });
        if (i === 0) {
          // Independent check that what we timed is a real, readable image.
          const inspect = JSON.parse((await runOk('skopeo', ['inspect', '--tls-verify=false', `docker://${f.result.image}`])).stdout) as { Digest: string; Layers: string[] };
          if (inspect.Digest !== f.result.digest || inspect.Layers.length !== 2) throw new Error(`skopeo sees ${JSON.stringify(inspect)}`);
          checked = `skopeo inspect of run 0: ${inspect.Layers.length} layers, digest ${inspect.Digest}`;
        }
        log(`run ${i + 1}/${runs}: ferry ${ms(f.ms)} (peak RSS ${mib(f.rssKb)})`);
      } else {
        const b = await buildahOnce(dir, `bench/buildah-${i}`);
        buildahRuns.push(b);
        log(`run ${i + 1}/${runs}: buildah bud ${ms(b.budMs)} + push ${ms(b.pushMs)} = ${ms(b.ms)}`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  const f = summarize(ferryRuns.map((r) => r.ms), 0);
  const bt = summarize(buildahRuns.map((r) => r.ms), 0);
  const bb = summarize(buildahRuns.map((r) => r.budMs), 0);
  const bp = summarize(buildahRuns.map((r) => r.pushMs), 0);
  const fr = summarize(ferryRuns.map((r) => r.rssKb / 1024), 1);
  const br = summarize(buildahRuns.map((r) => r.rssKb / 1024), 1);
  const r = ratio(f.median, bt.median);
  const markdown = [
    table(
      ['', 'median', 'min – max', 'peak RSS (median)'],
      [
        ['ferry push (build + push)', ms(f.median), `${ms(f.min)} – ${ms(f.max)}`, `${fr.median} MiB`],
        ['buildah bud + buildah push', ms(bt.median), `${ms(bt.min)} – ${ms(bt.max)}`, `${br.median} MiB`],
        ['  of which buildah bud', ms(bb.median), `${ms(bb.min)} – ${ms(bb.max)}`, ''],
        ['  of which buildah push', ms(bp.median), `${ms(bp.min)} – ${ms(bp.max)}`, ''],
        ['**ratio ferry / buildah (medians)**', `**${r}**`, '', ''],
      ],
    ),
    '',
    `${runs} runs each, alternating which tool goes first, after one uncounted warm-up. ${checked}.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Build + push of a 150 MB random-data layer',
    goal: 'report the ratio ferry / buildah (no fixed goal in issue 2)',
    goalMet: null,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh build-push-150mb',
    machine: m,
    method: [
      `Context: Dockerfile "FROM <registry>/library/busybox:1.36" + "COPY data.bin /data/data.bin", data.bin = 150 MiB from crypto.randomBytes, new data every run.`,
      'ferry: `ferry push --json --image <registry>/bench/ferry-N` with a new, empty FERRY_CACHE_DIR each run (so the layer is tarred, gzipped and uploaded; the base layer is cross-repo mounted).',
      'buildah: a new storage root each run (`--root/--runroot`, overlay), `buildah bud --isolation chroot --layers=false --tls-verify=false`, then `buildah push --tls-verify=false` to <registry>/bench/buildah-N. Time = bud + push.',
      'Wall time of each process from spawn to exit; peak RSS from GNU time (%M).',
    ],
    data: { runs, ferry: { ms: f, rssMiB: fr }, buildah: { ms: bt, budMs: bb, pushMs: bp, rssMiB: br }, ratioFerryOverBuildah: r, check: checked },
    markdown,
  });
});
