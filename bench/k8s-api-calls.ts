/**
 * Benchmark (issue 5): Kubernetes API requests to deploy and watch one Job to completion, and for a
 * 100-way `--each` (goal: one Job object and one watch). The fake API server of the e2e tests
 * (test/helpers/fake-kube: real REST paths, list/watch with resourceVersions, a Job controller and a
 * pretend kubelet) records every request; the built CLI and kubectl reach it through the same
 * kubeconfig, TLS included. Counts, not time: the fake answers in microseconds and its pods run on a
 * script, so times say little about a real cluster, while the number and kind of requests are what
 * an API server (and its rate limits, and etcd) pays for.
 *
 * Peers, measured in the same run against the same fake with the manifest ferry renders:
 * - one Job: `kubectl apply -f job.json`, `kubectl wait --for=condition=complete job/NAME`,
 *   `kubectl logs job/NAME`, with kubectl's discovery cache warm (primed once) and cold (a new
 *   --cache-dir each run);
 * - 100 values: 100 separate Jobs (what users do without an Indexed Job) applied from one List file,
 *   waited for with one `kubectl wait … job -l LABEL`; and, for reference, kubectl with ferry's own
 *   Indexed Job. ferry deploy --each does not stream the children's logs, so neither do these;
 *   reading them all afterwards (`kubectl logs -l LABEL`) is counted apart.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseAllDocuments } from 'yaml';
import { startFakeKube, type FakeKube, type RecordedRequest } from '../test/helpers/fake-kube/index.js';
import { startRegistry } from '../test/helpers/registry.js';
import { benchMain, elapsedS, ferry, log, machine, machineLine, median, ms, ratio, run, runsFor, table, writeResult, type Measured } from './lib/common.js';

const NAME = 'k8s-api-calls';
const KUBECTL = '/usr/bin/kubectl';
const FAN = 100;
const PARALLELISM = 20;
/** The single Job's pod: Pending for 500 ms, then 5 lines 300 ms apart, then 100 ms to exit. */
const ONE_POD = { logs: ['line 1', 'line 2', 'line 3', 'line 4', 'line 5'], pendingMs: 500, lineDelayMs: 300, delayMs: 100 };
/** Each fan-out pod: Pending for 500 ms, one line, 100 ms to exit. */
const FAN_POD = { pendingMs: 500, lineDelayMs: 50, delayMs: 100 };

type Obj = Record<string, unknown>;

/** What one request is, for the counts: the columns of the tables. */
type Kind = 'discovery' | 'create' | 'update' | 'delete' | 'read' | 'listPods' | 'listJobs' | 'watch' | 'podLog';
const KINDS: Kind[] = ['create', 'update', 'delete', 'read', 'listPods', 'listJobs', 'watch', 'podLog', 'discovery'];
const KIND_LABEL: Record<Kind, string> = {
  create: 'create (POST)',
  update: 'update (PUT/PATCH)',
  delete: 'DELETE',
  read: 'GET one object',
  listPods: 'LIST pods',
  listJobs: 'LIST jobs',
  watch: 'WATCH',
  podLog: 'GET pod log',
  discovery: 'discovery (/api, /apis, /version, /openapi)',
};

interface Parsed {
  resource: string;
  name: string | undefined;
  sub: string | undefined;
}

function parsePath(p: string): Parsed | undefined {
  const m = /^\/(?:api\/v1|apis\/batch\/v1)\/(.*)$/.exec(p);
  if (m?.[1] === undefined) return undefined;
  let segs = m[1].split('/').filter((s) => s !== '');
  if (segs[0] === 'namespaces' && segs.length >= 3) segs = segs.slice(2);
  const [resource, name, sub] = segs;
  return resource === undefined ? undefined : { resource, name, sub };
}

function kindOf(q: RecordedRequest): Kind {
  const p = parsePath(q.path);
  if (p === undefined) return 'discovery';
  if (q.method === 'POST') return 'create';
  if (q.method === 'PUT' || q.method === 'PATCH') return 'update';
  if (q.method === 'DELETE') return 'delete';
  if (q.query['watch'] === 'true' || q.query['watch'] === '1') return 'watch';
  if (p.sub === 'log') return 'podLog';
  if (p.name === undefined) return p.resource === 'pods' ? 'listPods' : 'listJobs';
  return 'read';
}

/** A short name for one request: `GET jobs/NAME`, `LIST pods`, `WATCH jobs`, `GET pods/NAME/log`. */
function signature(q: RecordedRequest): string {
  const p = parsePath(q.path);
  if (p === undefined) return `GET ${q.path}`;
  const k = kindOf(q);
  if (k === 'watch') return `WATCH ${p.resource}`;
  if (k === 'listPods' || k === 'listJobs') return `LIST ${p.resource}${q.query['fieldSelector'] !== undefined ? ' (by name)' : ''}`;
  return `${q.method} ${p.resource}${p.name === undefined ? '' : '/NAME'}${p.sub === undefined ? '' : `/${p.sub}`}`;
}

type Counts = Record<Kind, number> & { total: number };

function countsOf(reqs: RecordedRequest[]): Counts {
  const c = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  for (const q of reqs) c[kindOf(q)] += 1;
  return { ...c, total: reqs.length };
}

/** `2× GET jobs/NAME, 1× LIST pods, …` in first-seen order. */
function describeSigs(sigs: string[]): string {
  const n = new Map<string, number>();
  for (const s of sigs) n.set(s, (n.get(s) ?? 0) + 1);
  return [...n].map(([s, k]) => `${k}× \`${s}\``).join(', ');
}
const describe = (reqs: RecordedRequest[]): string => describeSigs(reqs.map(signature));

interface Sample {
  tool: string;
  run: number;
  counts: Counts;
  ms: number;
  requests: string[];
}

function mustOk(r: Measured, what: string): Measured {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
  return r;
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(5);
  const fanRuns = runsFor(3);
  const m = await machine();
  const registry = await startRegistry();
  c.add(() => registry.stop());
  const kube: FakeKube = await startFakeKube();
  c.add(() => kube.stop());

  // An image with busybox as /bin/sh, so --each is delivered as it would be for real (ferry wraps the CMD).
  const dir = await c.tempDir('project');
  await copyFile('/usr/bin/busybox', path.join(dir, 'busybox'));
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/sh\nCMD ["/bin/sh", "-c", "echo run $RUN $N"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${registry.host}/bench/k8s\nregistries:\n  "${registry.host}": {insecure: true}\n` +
      `targets:\n  one:\n    type: kubernetes-job\n    backoffLimit: 0\n  fan:\n    type: kubernetes-job\n    parallelism: ${PARALLELISM}\n`,
  );
  const home = await c.tempDir('home');
  await mkdir(path.join(home, 'docker-config'));
  // No registry credentials (an open registry): ferry makes no pull Secret, so both tools send the same Job.
  const env = {
    FERRY_CACHE_DIR: path.join(home, 'cache'),
    FERRY_STATE_DIR: path.join(home, 'state'),
    DOCKER_CONFIG: path.join(home, 'docker-config'),
    REGISTRY_AUTH_FILE: path.join(home, 'no-auth.json'),
    XDG_CONFIG_HOME: path.join(home, 'xdg'),
    KUBECONFIG: kube.kubeconfigPath,
    HOME: home,
  };
  const warmCache = path.join(home, 'kube-cache-warm');
  const kubectl = (args: string[], cacheDir: string): Promise<Measured> => run(KUBECTL, [...args, '--cache-dir', cacheDir], { cwd: dir, env, timeoutMs: 300_000 });
  const since = (from: number): RecordedRequest[] => kube.requests.slice(from);

  // Warm-up, uncounted: builds and pushes the image, and primes kubectl's discovery cache.
  kube.controls.script(/./, ONE_POD);
  mustOk(await ferry(['deploy', 'one', '-e', 'RUN=warm-up'], { cwd: dir, env, timeoutMs: 300_000 }), 'ferry deploy (warm-up)');
  mustOk(await kubectl(['get', 'jobs'], warmCache), 'kubectl get jobs (warm-up)');

  /** The Job ferry would create, from `ferry plan TARGET --render -`. */
  const rendered = async (args: string[]): Promise<Obj> => {
    const r = mustOk(await ferry(['plan', ...args, '--render', '-'], { cwd: dir, env }), `ferry plan ${args.join(' ')} --render -`);
    const job = parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as Obj)
      .find((d) => d['kind'] === 'Job');
    if (job === undefined) throw new Error(`ferry plan --render printed no Job:\n${r.stdout}`);
    return job;
  };
  const oneJob = await rendered(['one', '-e', 'RUN=kubectl']);
  const meta = (j: Obj): Obj => j['metadata'] as Obj;
  const podTemplate = (j: Obj): Obj => (j['spec'] as Obj)['template'] as Obj;
  const container = (j: Obj): Obj => ((podTemplate(j)['spec'] as Obj)['containers'] as Obj[])[0] ?? {};
  const withName = (j: Obj, name: string): Obj => {
    const copy = structuredClone(j);
    meta(copy)['name'] = name;
    return copy;
  };

  // ------------------------------------------------------------------------------------------
  // 1. One Job to completion.
  const samples: Sample[] = [];
  const record = (tool: string, i: number, from: number, msTaken: number): Sample => {
    const reqs = since(from);
    const s = { tool, run: i, counts: countsOf(reqs), ms: msTaken, requests: reqs.map(signature) };
    samples.push(s);
    log(`${tool} #${i}: ${s.counts.total} requests (${describe(reqs)}), ${ms(msTaken)}`);
    return s;
  };
  const expectLines = (out: string, what: string): void => {
    for (const l of ONE_POD.logs) if (!out.includes(l)) throw new Error(`${what}: "${l}" missing from the output:\n${out}`);
  };
  const ferryOne = async (i: number): Promise<void> => {
    const from = kube.requests.length;
    const r = mustOk(await ferry(['deploy', 'one', '-e', `RUN=${i}`], { cwd: dir, env, timeoutMs: 300_000 }), 'ferry deploy one');
    expectLines(r.stdout, 'ferry deploy');
    record('ferry', i, from, r.ms);
  };
  const kubectlOne = async (i: number, cold: boolean): Promise<void> => {
    const name = `bench-kubectl-${cold ? 'cold' : 'warm'}-${i}`;
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(withName(oneJob, name)));
    const cache = cold ? await c.tempDir('kube-cache-cold') : warmCache;
    const from = kube.requests.length;
    const a = mustOk(await kubectl(['apply', '--validate=false', '-f', file], cache), 'kubectl apply');
    const w = mustOk(await kubectl(['wait', '--for=condition=complete', `job/${name}`, '--timeout=120s'], cache), 'kubectl wait');
    const l = mustOk(await kubectl(['logs', `job/${name}`], cache), 'kubectl logs');
    expectLines(l.stdout, 'kubectl logs');
    record(cold ? 'kubectl, cold cache' : 'kubectl', i, from, a.ms + w.ms + l.ms);
  };
  kube.controls.script(/./, ONE_POD);
  for (let i = 0; i < runs; i++) {
    // Rotate which goes first.
    const order = [() => ferryOne(i), () => kubectlOne(i, false), () => kubectlOne(i, true)];
    for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]?.();
  }

  // ------------------------------------------------------------------------------------------
  // 2. 100 values.
  const values = Array.from({ length: FAN }, (_, i) => String(i));
  kube.controls.script(/./, (ctx) => ({ ...FAN_POD, logs: [`value ${String(ctx.index ?? ctx.pod.metadata.name)}`] }));
  const fanSamples: (Sample & { jobs: number; exit: number })[] = [];
  const recordFan = (tool: string, i: number, from: number, msTaken: number, exit: number): void => {
    const reqs = since(from);
    const jobs = reqs.filter((q) => q.method === 'POST' && q.path.endsWith('/jobs')).length;
    // The whole sequence would be 400 lines for the separate Jobs: kept as counts per kind of request.
    const s = { tool, run: i, counts: countsOf(reqs), ms: msTaken, requests: [describe(reqs)], jobs, exit };
    fanSamples.push(s);
    log(`${tool} #${i}: ${s.counts.total} requests, ${jobs} Job(s) created, ${s.counts.watch} watch(es), ${s.counts.listPods} pod LISTs (${describe(reqs)}), ${ms(msTaken)}`);
  };
  const expectValues = (out: string, what: string, n: number): void => {
    const seen = out.split('\n').filter((l) => /value \S+/.test(l)).length;
    if (seen < n) throw new Error(`${what}: ${seen} of ${n} log lines in the output:\n${out.slice(-2000)}`);
  };
  // ferry deploy --each does not stream the children's logs (they are read later, `ferry logs
  // --index I`), so the kubectl recipes are counted without theirs; reading all ${FAN} afterwards
  // (`kubectl logs -l SELECTOR --tail=-1`) is counted apart.
  const logReads: { tool: string; run: number; counts: Counts }[] = [];
  const logsAfter = async (tool: string, i: number, selector: string): Promise<void> => {
    const from = kube.requests.length;
    const l = mustOk(await kubectl(['logs', '-l', selector, '--tail=-1'], warmCache), `kubectl logs -l ${selector}`);
    expectValues(l.stdout, `kubectl logs -l ${selector}`, FAN);
    const counts = countsOf(since(from));
    logReads.push({ tool, run: i, counts });
    log(`${tool} #${i}, logs afterwards: ${counts.total} requests (${describe(since(from))})`);
  };
  const ferryFan = async (i: number): Promise<void> => {
    const from = kube.requests.length;
    const r = mustOk(await ferry(['deploy', 'fan', '-e', `RUN=${i}`, '--each', `N=${values.join(',')}`], { cwd: dir, env, timeoutMs: 600_000 }), 'ferry deploy fan --each');
    recordFan('ferry --each (one Indexed Job)', i, from, r.ms, r.code);
  };
  const fanJob = await rendered(['fan', '-e', 'RUN=kubectl', '--each', `N=${values.join(',')}`]);
  if ((fanJob['spec'] as Obj)['completionMode'] !== 'Indexed') throw new Error('ferry plan fan --each --render - printed no Indexed Job');
  // 100 separate Jobs: ferry's one-Job manifest, each with N=i, all labelled for one wait and one logs call.
  const separateJobs = (i: number): Obj => {
    const set = `bench-sep-${i}`;
    const items = values.map((v) => {
      const j = withName(oneJob, `${set}-${v}`);
      meta(j)['labels'] = { ...(meta(j)['labels'] as Obj), 'bench/set': set };
      const t = podTemplate(j);
      t['metadata'] = { ...((t['metadata'] ?? {}) as Obj), labels: { ...(((t['metadata'] ?? {}) as Obj)['labels'] as Obj), 'bench/set': set } };
      const ctr = container(j);
      ctr['env'] = [...((ctr['env'] ?? []) as Obj[]), { name: 'N', value: v }];
      return j;
    });
    return { apiVersion: 'v1', kind: 'List', items };
  };
  const kubectlSeparate = async (i: number): Promise<void> => {
    const set = `bench-sep-${i}`;
    const file = path.join(dir, `${set}.json`);
    await writeFile(file, JSON.stringify(separateJobs(i)));
    const from = kube.requests.length;
    const a = mustOk(await kubectl(['apply', '--validate=false', '-f', file], warmCache), 'kubectl apply (100 Jobs)');
    const w = mustOk(await kubectl(['wait', '--for=condition=complete', 'job', '-l', `bench/set=${set}`, '--timeout=300s'], warmCache), 'kubectl wait -l');
    recordFan('kubectl, 100 separate Jobs', i, from, a.ms + w.ms, 0);
    await logsAfter('kubectl, 100 separate Jobs', i, `bench/set=${set}`);
  };
  const kubectlIndexed = async (i: number): Promise<void> => {
    const name = `bench-idx-${i}`;
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(withName(fanJob, name)));
    const from = kube.requests.length;
    const a = mustOk(await kubectl(['apply', '--validate=false', '-f', file], warmCache), 'kubectl apply (Indexed Job)');
    const w = mustOk(await kubectl(['wait', '--for=condition=complete', `job/${name}`, '--timeout=300s'], warmCache), 'kubectl wait (Indexed Job)');
    recordFan("kubectl, ferry's Indexed Job", i, from, a.ms + w.ms, 0);
    await logsAfter("kubectl, ferry's Indexed Job", i, `batch.kubernetes.io/job-name=${name}`);
  };
  for (let i = 0; i < fanRuns; i++) {
    const order = [() => ferryFan(i), () => kubectlSeparate(i), () => kubectlIndexed(i)];
    for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]?.();
  }

  // ------------------------------------------------------------------------------------------
  // Results.
  const med = (ss: Sample[], f: (s: Sample) => number): number => median(ss.map(f));
  const of = (tool: string): Sample[] => samples.filter((s) => s.tool === tool);
  const tools = ['ferry', 'kubectl', 'kubectl, cold cache'];
  const cols: Kind[] = KINDS.filter((k) => samples.some((s) => s.counts[k] > 0));
  const ferryTotal = med(of('ferry'), (s) => s.counts.total);
  const kubectlTotal = med(of('kubectl'), (s) => s.counts.total);
  const coldTotal = med(of('kubectl, cold cache'), (s) => s.counts.total);
  const range = <S extends Sample>(ss: S[], f: (s: S) => number): string => {
    const xs = ss.map(f);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return lo === hi ? String(lo) : `${median(xs)} (${lo}–${hi})`;
  };
  const fanOf = (tool: string): typeof fanSamples => fanSamples.filter((s) => s.tool === tool);
  const fanTools = [...new Set(fanSamples.map((s) => s.tool))];
  const ferryFans = fanOf('ferry --each (one Indexed Job)');
  const goalMet = ferryFans.length > 0 && ferryFans.every((s) => s.jobs === 1 && s.counts.watch === 1);
  const fanCols: Kind[] = KINDS.filter((k) => fanSamples.some((s) => s.counts[k] > 0));
  const sepTotal = median(fanOf('kubectl, 100 separate Jobs').map((s) => s.counts.total));
  const idxTotal = median(fanOf("kubectl, ferry's Indexed Job").map((s) => s.counts.total));
  const ferryFanTotal = median(ferryFans.map((s) => s.counts.total));
  const example = (tool: string, reqs: Sample[]): string => {
    const s = reqs[0];
    return s === undefined ? '' : `What ${tool} asked (run 0): ${s.requests.length === 1 ? (s.requests[0] ?? '') : s.requests.map((r) => `\`${r}\``).join(' → ')}.`;
  };

  const markdown = [
    `One Job to completion (a pod Pending ${ONE_POD.pendingMs} ms, then ${ONE_POD.logs.length} log lines ${ONE_POD.lineDelayMs} ms apart): requests the fake API server received, medians of ${runs} runs each (min–max when they differ).`,
    '',
    table(
      ['', ...cols.map((k) => KIND_LABEL[k]), '**total**', 'wall time (context only)'],
      tools.map((t) => [t === 'ferry' ? '`ferry deploy one`' : t === 'kubectl' ? 'kubectl apply + wait + logs (warm discovery cache)' : 'kubectl apply + wait + logs (cold discovery cache)', ...cols.map((k) => range(of(t), (s) => s.counts[k])), `**${range(of(t), (s) => s.counts.total)}**`, ms(med(of(t), (s) => s.ms))]),
    ),
    '',
    `**Ratio ferry / kubectl (median total requests): ${ratio(ferryTotal, kubectlTotal)}** (${ferryTotal} vs ${kubectlTotal}); against kubectl with a cold discovery cache: ${ratio(ferryTotal, coldTotal)} (${coldTotal}). ferry's wall time includes its build (cache hit) and re-push of the unchanged image; kubectl's is the sum of its three commands.`,
    '',
    example('ferry', of('ferry')),
    '',
    example('kubectl (warm)', of('kubectl')),
    '',
    `${FAN} values (\`--each N=0,…,${FAN - 1}\`, parallelism ${PARALLELISM} in the target; each pod Pending ${FAN_POD.pendingMs} ms, one log line), ${fanRuns} runs each:`,
    '',
    table(
      ['', 'Job objects created', ...fanCols.map((k) => KIND_LABEL[k]), '**total**', 'wall time (context only)'],
      fanTools.map((t) => [t, range(fanOf(t), (s) => s.jobs), ...fanCols.map((k) => range(fanOf(t), (s) => s.counts[k])), `**${range(fanOf(t), (s) => s.counts.total)}**`, ms(median(fanOf(t).map((s) => s.ms)))]),
    ),
    '',
    `Goal (one Job object and one watch for a ${FAN}-way --each): **${goalMet ? 'met' : 'MISSED'}** (Jobs created: ${ferryFans.map((s) => s.jobs).join(', ')}; watches: ${ferryFans.map((s) => s.counts.watch).join(', ')}). Ratio ferry / kubectl with ${FAN} separate Jobs (median total requests): **${ratio(ferryFanTotal, sepTotal)}** (${ferryFanTotal} vs ${sepTotal}); ferry / kubectl with ferry's Indexed Job: ${ratio(ferryFanTotal, idxTotal)} (${idxTotal}).`,
    '',
    `Reading all ${FAN} logs afterwards, not in the totals above (ferry deploy --each streams none; its children's logs are read later with \`ferry logs --index I\`): \`kubectl logs -l SELECTOR --tail=-1\` made ${[...new Set(logReads.map((r) => r.counts.total))].join(' or ')} requests (${logReads[0] === undefined ? '' : `${logReads[0].counts.listPods} LIST pods, ${logReads[0].counts.podLog} pod log GETs, ${logReads[0].counts.read} other GETs`}).`,
    '',
    example('ferry --each', ferryFans),
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Kubernetes API requests per Job deploy and per 100-way --each',
    goal: `one Job object and one watch for a ${FAN}-way --each; requests for one Job against kubectl apply + wait + logs`,
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh k8s-api-calls',
    machine: m,
    method: [
      'The fake Kubernetes API server of the e2e tests (test/helpers/fake-kube: HTTPS, bearer token, real REST paths, list/watch with resourceVersions, a Job controller honouring Indexed completions and parallelism, a scripted kubelet) records every request; ferry (built CLI) and kubectl reach it through the same kubeconfig.',
      `One Job: \`ferry deploy one -e RUN=i\` (a new spec each run, so no earlier Job of the same name is replaced) against kubectl with ferry's rendered manifest (\`ferry plan one --render -\`, renamed per run): \`kubectl apply --validate=false -f\`, \`kubectl wait --for=condition=complete job/NAME --timeout=120s\`, \`kubectl logs job/NAME\`; with a warm discovery cache (primed once) and a cold one (new --cache-dir per run). ${runs} runs, the three rotating which goes first.`,
      `${FAN} values: \`ferry deploy fan --each N=0,…,${FAN - 1}\` (one Indexed Job, parallelism ${PARALLELISM}) against ${FAN} separate Jobs (ferry's one-Job manifest with N=i and a common label) from one List file: \`kubectl apply\`, \`kubectl wait --for=condition=complete job -l LABEL\`; and kubectl with ferry's rendered Indexed Job (apply, wait job/NAME). ferry deploy --each does not stream the children's logs (\`ferry logs --index I\` reads them later), so the kubectl recipes are counted without logs; \`kubectl logs -l SELECTOR --tail=-1\` afterwards is counted apart. ${fanRuns} runs, rotating.`,
      'No registry credentials (an open registry), so ferry makes no image pull Secret and both tools send the same Job; with credentials ferry adds one GET of the Secret (and a POST the first time, a PUT when the credential changed).',
      'kubectl apply runs with --validate=false: the fake serves no /openapi/v2 or /v3, which kubectl fetches for its default validation (ferry validates against bundled schemas, with no request).',
    ],
    data: { runs, fanRuns, onePod: ONE_POD, fanPod: FAN_POD, parallelism: PARALLELISM, samples, fanSamples, logReads, ratio: ratio(ferryTotal, kubectlTotal), ratioCold: ratio(ferryTotal, coldTotal), ratioFanSeparate: ratio(ferryFanTotal, sepTotal), ratioFanIndexed: ratio(ferryFanTotal, idxTotal) },
    markdown,
  });
});
