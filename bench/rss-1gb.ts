/**
 * Benchmark 4: peak RSS of ferry while it handles a 1 GiB layer (goal for the push: under 150 MB,
 * i.e. streamed, never buffered). Measured separately for `ferry build` (tar + gzip + hash of the
 * 1 GiB file into a fresh cache) and `ferry push` (the cached layer uploaded to a new repository),
 * with a 1 MiB image as the baseline of what the process weighs anyway, and `skopeo copy` of the
 * same layout as a reference peer.
 */
import { statfs, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  benchMain,
  elapsedS,
  ferryBuild,
  ferryPush,
  log,
  machine,
  machineLine,
  mib,
  ms,
  NODE,
  FERRY_BIN,
  randomFile,
  ratio,
  runOk,
  runsFor,
  summarize,
  table,
  writeResult,
} from './lib/common.js';
import { startWorld, writeContext } from './lib/fixtures.js';

const NAME = 'rss-1gb';
const GIB = 1024 * 1024 * 1024;
const GOAL_MB = 150;

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(3);
  // The file, the cache's gzip of it, and the registry's copy: about 3.1 GiB at once.
  const fs = await statfs(os.tmpdir());
  const freeGiB = (fs.bavail * fs.bsize) / GIB;
  if (freeGiB < 5) throw new Error(`needs 5 GiB free in ${os.tmpdir()}, has ${freeGiB.toFixed(1)} GiB`);
  const m = await machine();
  const { reg, base } = await startWorld(c);
  const repos = path.join(reg.storageDir, 'docker', 'registry', 'v2', 'repositories', 'bench');
  // Each measured push goes to a repository with no trace of the blob, or it would not upload;
  // deleting the earlier repositories also keeps skopeo from mounting the blob from them.
  const forgetRepos = (): Promise<void> => rm(repos, { recursive: true, force: true });

  const ctx = async (label: string, bytes: number): Promise<string> => {
    const dir = await c.tempDir(`ctx-${label}`);
    await writeContext(dir, { dockerfile: `FROM ${base.ref}\nCOPY big.bin /data/big.bin\n`, imageName: `${reg.host}/bench/unused`, insecureHost: reg.host });
    await randomFile(path.join(dir, 'big.bin'), bytes);
    return dir;
  };

  log('baseline: the same shape with a 1 MiB file');
  const small = await ctx('small', 1024 * 1024);
  const smallCache = await c.tempDir('cache-small');
  const smallEnv = { FERRY_CACHE_DIR: smallCache, DOCKER_CONFIG: path.join(smallCache, 'none') };
  const baseBuild: number[] = [];
  const basePush: number[] = [];
  for (let i = 0; i < runs; i++) {
    await rm(smallCache, { recursive: true, force: true });
    baseBuild.push((await ferryBuild(['--output', `oci:${path.join(small, `layout-${i}`)}`], { cwd: small, env: smallEnv })).run.maxRssKb);
    await forgetRepos();
    basePush.push((await ferryPush(['--image', `${reg.host}/bench/small-${i}`], { cwd: small, env: smallEnv })).run.maxRssKb);
  }

  // What the process weighs before any layer: Node alone, ferry's start-up, and ferry with its
  // config stack (zod, yaml) loaded.
  const floors: Record<string, number[]> = { 'node -e 0': [], 'ferry --version': [], 'ferry config validate': [] };
  for (let i = 0; i < runs; i++) {
    floors['node -e 0']?.push((await runOk(NODE, ['-e', '0'])).maxRssKb);
    floors['ferry --version']?.push((await runOk(NODE, [FERRY_BIN, '--version'])).maxRssKb);
    floors['ferry config validate']?.push((await runOk(NODE, [FERRY_BIN, 'config', 'validate'], { cwd: small, env: smallEnv })).maxRssKb);
  }

  log('making a 1 GiB random file');
  const dir = await ctx('big', GIB);
  const cache = await c.tempDir('cache-big');
  const env = { FERRY_CACHE_DIR: cache, DOCKER_CONFIG: path.join(cache, 'none') };
  const layout = path.join(dir, 'layout');

  const builds: { ms: number; rssKb: number }[] = [];
  for (let i = 0; i < runs; i++) {
    await rm(cache, { recursive: true, force: true });
    await rm(layout, { recursive: true, force: true });
    const { result, run } = await ferryBuild(['--output', `oci:${layout}`], { cwd: dir, env });
    const layer = result.layers.find((l) => l.source === 'build');
    if (layer === undefined || layer.reused || layer.size < GIB) throw new Error(`unexpected build: ${JSON.stringify(result.layers)}`);
    builds.push({ ms: run.ms, rssKb: run.maxRssKb });
    log(`build ${i + 1}/${runs}: ${ms(run.ms)}, peak RSS ${mib(run.maxRssKb)}`);
  }

  const pushes: { ms: number; rssKb: number }[] = [];
  const skopeos: { ms: number; rssKb: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['ferry', 'skopeo'] : ['skopeo', 'ferry'];
    for (const tool of order) {
      await forgetRepos();
      if (tool === 'ferry') {
        const { result, run } = await ferryPush(['--image', `${reg.host}/bench/ferry-${i}`], { cwd: dir, env });
        const rebuilt = result.layers.filter((l) => l.source === 'build' && !l.reused).length;
        if (rebuilt !== 0 || result.blobs.uploaded !== 2 || result.bytesUploaded < GIB) {
          throw new Error(`expected the cached layer to be uploaded: ${rebuilt} rebuilt, ${JSON.stringify(result.blobs)}, ${result.bytesUploaded} B`);
        }
        pushes.push({ ms: run.ms, rssKb: run.maxRssKb });
        log(`push ${i + 1}/${runs}: ferry ${ms(run.ms)}, peak RSS ${mib(run.maxRssKb)}`);
      } else {
        const r = await runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/bench/skopeo-${i}:latest`]);
        skopeos.push({ ms: r.ms, rssKb: r.maxRssKb });
        log(`push ${i + 1}/${runs}: skopeo ${ms(r.ms)}, peak RSS ${mib(r.maxRssKb)}`);
      }
    }
  }

  // What a user runs first: `ferry push` on a fresh cache, which builds and then pushes in one process.
  const combined: { ms: number; rssKb: number }[] = [];
  const freshCache = await c.tempDir('cache-fresh');
  for (let i = 0; i < runs; i++) {
    await rm(freshCache, { recursive: true, force: true });
    await forgetRepos();
    const { result, run } = await ferryPush(['--image', `${reg.host}/bench/fresh-${i}`], {
      cwd: dir,
      env: { FERRY_CACHE_DIR: freshCache, DOCKER_CONFIG: path.join(freshCache, 'none') },
    });
    if (result.blobs.uploaded !== 2 || result.bytesUploaded < GIB) throw new Error(`unexpected push: ${JSON.stringify(result.blobs)}, ${result.bytesUploaded} B`);
    combined.push({ ms: run.ms, rssKb: run.maxRssKb });
    log(`build + push ${i + 1}/${runs}: ferry ${ms(run.ms)}, peak RSS ${mib(run.maxRssKb)}`);
  }
  await rm(freshCache, { recursive: true, force: true });

  const mb = (kb: number): number => (kb * 1024) / 1e6;
  const b = summarize(builds.map((x) => mb(x.rssKb)), 1);
  const bt = summarize(builds.map((x) => x.ms), 0);
  const p = summarize(pushes.map((x) => mb(x.rssKb)), 1);
  const pt = summarize(pushes.map((x) => x.ms), 0);
  const s = summarize(skopeos.map((x) => mb(x.rssKb)), 1);
  const st = summarize(skopeos.map((x) => x.ms), 0);
  const b0 = summarize(baseBuild.map(mb), 1);
  const bp = summarize(combined.map((x) => mb(x.rssKb)), 1);
  const bpt = summarize(combined.map((x) => x.ms), 0);
  const p0 = summarize(basePush.map(mb), 1);
  const goalMet = p.max < GOAL_MB;
  const floorText = Object.entries(floors)
    .map(([k, v]) => `${k} ${summarize(v.map(mb), 1).median} MB`)
    .join(', ');
  const markdown = [
    table(
      ['', 'peak RSS, median (MB)', 'min – max (MB)', 'same with a 1 MiB file (MB)', 'time, median'],
      [
        ['ferry build (tar + gzip + hash 1 GiB, fresh cache)', b.median, `${b.min} – ${b.max}`, b0.median, ms(bt.median)],
        ['**ferry push** (cached 1 GiB layer → new repository)', `**${p.median}**`, `${p.min} – ${p.max}`, p0.median, ms(pt.median)],
        ['ferry push on a fresh cache (build + push in one process)', bp.median, `${bp.min} – ${bp.max}`, '', ms(bpt.median)],
        ['skopeo copy oci:… docker://… (same layout, new repository)', s.median, `${s.min} – ${s.max}`, '', ms(st.median)],
        ['ratio ferry push / skopeo', ratio(p.median, s.median), '', '', ratio(pt.median, st.median)],
      ],
    ),
    '',
    `What the process weighs before any layer (peak RSS, median): ${floorText}.`,
    '',
    `Goal (push under ${GOAL_MB} MB peak RSS): **${goalMet ? 'met' : 'MISSED'}** (worst of ${runs} pushes: ${p.max} MB). MB = 10^6 bytes; GNU time's %M is in KiB. ${runs} runs of each.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Peak RSS with a 1 GiB layer',
    goal: `ferry push peak RSS under ${GOAL_MB} MB`,
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh rss-1gb',
    machine: m,
    method: [
      'Context: FROM <registry>/library/busybox:1.36 + COPY big.bin, big.bin = 1 GiB from crypto.randomBytes (incompressible, so the gzip output is ~1 GiB too).',
      'Peak RSS of the node process from GNU time (/usr/bin/time -f %M, wait4 ru_maxrss), which is the ferry process itself.',
      'build: `ferry build --json --output oci:DIR` with an emptied FERRY_CACHE_DIR each run. push: `ferry push --json --image <registry>/bench/ferry-N` reusing that cache (0 layers rebuilt, checked), after removing the registry\'s bench/* repositories so the blob is uploaded (checked: 2 blobs, ≥ 1 GiB).',
      'skopeo: `skopeo copy --dest-tls-verify=false oci:<the layout ferry build wrote>:latest docker://<registry>/bench/skopeo-N:latest`, same repository clean-up first.',
      'Baseline: the same steps with a 1 MiB file, to show what the process weighs regardless of layer size.',
      'Also `ferry push --json` on an emptied cache, which builds and pushes in one process (what a user runs first).',
    ],
    data: {
      runs,
      build: { rssMB: b, ms: bt, baselineRssMB: b0 },
      push: { rssMB: p, ms: pt, baselineRssMB: p0 },
      skopeo: { rssMB: s, ms: st },
      buildAndPush: { rssMB: bp, ms: bpt },
      floorsMB: Object.fromEntries(Object.entries(floors).map(([k, v]) => [k, summarize(v.map(mb), 1)])),
      raw: { builds, pushes, combined, skopeos, baseBuildKb: baseBuild, basePushKb: basePush },
    },
    markdown,
  });
});
