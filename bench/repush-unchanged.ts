/**
 * Benchmark 2: re-push of an unchanged image. ferry should upload no blob; we record its blob
 * counts and registry requests (from `ferry push --json`), and count every request independently
 * with a pass-through proxy in front of the registry. Peer: `skopeo copy` of the same image (ferry's
 * own OCI layout) to the same registry again, timed and counted through the same proxy.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startFaultProxy, type ProxiedRequest } from '../test/helpers/fault-proxy.js';
import {
  benchMain,
  elapsedS,
  ferryBuild,
  ferryPush,
  log,
  machine,
  machineLine,
  ms,
  randomFile,
  ratio,
  runOk,
  runsFor,
  summarize,
  table,
  writeResult,
} from './lib/common.js';
import { startWorld, writeContext } from './lib/fixtures.js';

const NAME = 'repush-unchanged';

/** "HEAD /v2/<repo>/blobs/<digest>" with digests and upload ids elided, to see what a push asks. */
function shape(r: ProxiedRequest): string {
  const p = r.path
    .replace(/sha256:[0-9a-f]{64}/g, '<digest>')
    .replace(/\/uploads\/[^/?]+/g, '/uploads/<id>')
    .replace(/\?.*$/, '');
  return `${r.method} ${p} → ${r.status ?? '?'}`;
}

function histogram(reqs: ProxiedRequest[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const r of reqs) h[shape(r)] = (h[shape(r)] ?? 0) + 1;
  return h;
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(7);
  const m = await machine();
  const { reg, base } = await startWorld(c);
  // Every request of both tools goes through this proxy (it only forwards and records), so both
  // pay the same extra hop and both are counted the same way.
  const proxy = await startFaultProxy(reg.url, [], 3_600_000);
  c.add(() => proxy.stop());
  const host = proxy.host;

  const dir = await c.tempDir('ctx');
  await writeContext(dir, {
    dockerfile: `FROM ${host}/${base.repository}:${base.tag}\nCOPY app/ /app/\nCOPY data.bin /data/data.bin\nCMD ["/bin/sh"]\n`,
    imageName: `${host}/bench/ferry-repush`,
    insecureHost: host,
  });
  await mkdir(path.join(dir, 'app', 'lib'), { recursive: true });
  for (let i = 0; i < 100; i++) await randomFile(path.join(dir, 'app', 'lib', `mod-${i}.bin`), 2048);
  await randomFile(path.join(dir, 'data.bin'), 150 * 1024 * 1024);
  const cache = await c.tempDir('ferry-cache');
  const env = { FERRY_CACHE_DIR: cache, DOCKER_CONFIG: path.join(cache, 'no-docker-config') };
  const layout = path.join(dir, '.ferry', 'oci');

  log('first build and push (not counted)');
  const built = (await ferryBuild([], { cwd: dir, env })).result;
  const first = (await ferryPush([], { cwd: dir, env })).result;
  if (first.digest !== built.digest) throw new Error(`push digest ${first.digest} is not the build digest ${built.digest}`);
  log(`first push: ${JSON.stringify(first.blobs)}, ${first.requests} requests`);
  const skopeoArgs = ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${host}/bench/skopeo-repush:latest`];
  await runOk('skopeo', skopeoArgs);

  interface FerryRun {
    ms: number;
    uploaded: number;
    skipped: number;
    mounted: number;
    bytesUploaded: number;
    requestsReported: number;
    requestsSeen: number;
  }
  const ferryRuns: FerryRun[] = [];
  const skopeoRuns: { ms: number; requestsSeen: number }[] = [];
  // The no-op build alone (what every `ferry push` does first), to split ferry's time.
  const buildRuns: { ms: number; requestsSeen: number }[] = [];
  const noopLayout = path.join(cache, 'noop-layout');
  let ferryShape: Record<string, number> = {};
  let skopeoShape: Record<string, number> = {};
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['ferry', 'skopeo', 'build'] : ['build', 'skopeo', 'ferry'];
    for (const tool of order) {
      const before = proxy.requests.length;
      if (tool === 'build') {
        const { result, run } = await ferryBuild(['--output', `oci:${noopLayout}`], { cwd: dir, env });
        if (result.layers.some((l) => !l.reused)) throw new Error('the no-op build rebuilt a layer');
        buildRuns.push({ ms: run.ms, requestsSeen: proxy.requests.length - before });
      } else if (tool === 'ferry') {
        const { result, run } = await ferryPush([], { cwd: dir, env });
        if (result.digest !== first.digest) throw new Error(`re-push gave ${result.digest}, first push ${first.digest}`);
        const seen = proxy.requests.slice(before);
        ferryShape = histogram(seen);
        ferryRuns.push({
          ms: run.ms,
          uploaded: result.blobs.uploaded,
          skipped: result.blobs.skipped,
          mounted: result.blobs.mounted,
          bytesUploaded: result.bytesUploaded,
          requestsReported: result.requests,
          requestsSeen: seen.length,
        });
        log(`run ${i + 1}/${runs}: ferry ${ms(run.ms)}, uploaded ${result.blobs.uploaded}, ${result.requests} requests reported, ${seen.length} seen`);
      } else {
        const r = await runOk('skopeo', skopeoArgs);
        const seen = proxy.requests.slice(before);
        skopeoShape = histogram(seen);
        skopeoRuns.push({ ms: r.ms, requestsSeen: seen.length });
        log(`run ${i + 1}/${runs}: skopeo ${ms(r.ms)}, ${seen.length} requests seen`);
      }
    }
  }

  const ft = summarize(ferryRuns.map((r) => r.ms), 0);
  const st = summarize(skopeoRuns.map((r) => r.ms), 0);
  const bt = summarize(buildRuns.map((r) => r.ms), 0);
  const btReq = summarize(buildRuns.map((r) => r.requestsSeen), 0);
  const maxUploaded = Math.max(...ferryRuns.map((r) => r.uploaded));
  const maxBytes = Math.max(...ferryRuns.map((r) => r.bytesUploaded));
  const reqReported = summarize(ferryRuns.map((r) => r.requestsReported), 0);
  const reqSeen = summarize(ferryRuns.map((r) => r.requestsSeen), 0);
  const skReqSeen = summarize(skopeoRuns.map((r) => r.requestsSeen), 0);
  const last = ferryRuns[ferryRuns.length - 1];
  const shapeRows = (h: Record<string, number>): string => Object.entries(h).map(([k, n]) => `${n}× \`${k}\``).join(', ');
  const r = ratio(ft.median, st.median);
  const goalMet = maxUploaded === 0 && maxBytes === 0;
  const markdown = [
    table(
      ['', 'median time', 'min – max', 'blobs uploaded', 'bytes uploaded', 'registry requests'],
      [
        [
          'ferry push (unchanged)',
          ms(ft.median),
          `${ms(ft.min)} – ${ms(ft.max)}`,
          `${maxUploaded} (max of ${runs}); skipped ${last?.skipped ?? '?'}, mounted ${last?.mounted ?? '?'}`,
          String(maxBytes),
          `${reqReported.median} reported by --json; ${reqSeen.median} seen by the proxy`,
        ],
        ['  for comparison: ferry build alone (same cache, nothing to do)', ms(bt.median), `${ms(bt.min)} – ${ms(bt.max)}`, '', '', `${btReq.median} seen by the proxy (base-image lookup)`],
        ['skopeo copy oci:… docker://… (again)', ms(st.median), `${ms(st.min)} – ${ms(st.max)}`, '0 (skopeo: "already exists")', '', `${skReqSeen.median} seen by the proxy`],
        ['**ratio ferry / skopeo (median time)**', `**${r}**`, '', '', '', ''],
      ],
    ),
    '',
    `Goal (0 blob uploads): **${goalMet ? 'met' : 'MISSED'}**. ${runs} runs each, alternating order.`,
    '',
    `What ferry asked the registry in one re-push: ${shapeRows(ferryShape)}.`,
    '',
    `What skopeo asked: ${shapeRows(skopeoShape)}.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Re-push of an unchanged image',
    goal: '0 blob uploads',
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh repush-unchanged',
    machine: m,
    method: [
      'Image: busybox base (on the same registry) + COPY of 100 files of 2 KiB + COPY of a 150 MiB random file.',
      'A pass-through HTTP proxy (test/helpers/fault-proxy.ts with no rules) sits in front of the registry; both tools talk to it, and it counts every request.',
      'After one untimed `ferry build` + `ferry push` (and one untimed `skopeo copy` of ferry\'s OCI layout to another repository), each run is `ferry push --json` again with the same FERRY_CACHE_DIR (so ferry also re-checks the build: stat cache, cached layers) and `skopeo copy --dest-tls-verify=false oci:<layout>:latest docker://<proxy>/bench/skopeo-repush:latest` again.',
      '"reported" is result.requests from --json (requests during the push phase); "seen" is what the proxy saw for the whole process, the build\'s base-image lookups included.',
    ],
    data: {
      runs,
      ferry: { ms: ft, runs: ferryRuns, requestsReported: reqReported, requestsSeen: reqSeen, requestShape: ferryShape },
      skopeo: { ms: st, requestsSeen: skReqSeen, requestShape: skopeoShape },
      ferryBuildNoop: { ms: bt, requestsSeen: btReq },
      ratioFerryOverSkopeo: r,
      firstPush: { blobs: first.blobs, requests: first.requests, bytesUploaded: first.bytesUploaded },
    },
    markdown,
  });
});
