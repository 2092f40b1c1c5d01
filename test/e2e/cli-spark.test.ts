import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { envelope, ferry, ferryThenInterrupt, type CliResult } from '../helpers/cli.js';
import { startPodmanService } from '../helpers/podman-service.js';
import { startSpark, type SparkCluster } from '../helpers/spark.js';
import { insecureRegistriesConf, sparkTestImage, type SparkBaseImage } from '../helpers/spark-image.js';

/**
 * `type: spark` against a real standalone master and worker (pyspark 4.3.0, test/helpers/spark.ts),
 * end to end through the built CLI: ferry builds a job image FROM a driver base image (Java 17,
 * Python 3.11, the same pyspark; test/helpers/spark-image.ts, cached across runs), pushes it to a
 * registry, podman pulls it by digest, and spark-submit runs inside it in client mode, so the
 * driver is that container and its exit code is the run's. The words are counted on the worker's
 * executor (the master lists the application as FINISHED).
 */
const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'spark');
const EXAMPLE = path.resolve(import.meta.dirname, '..', '..', 'examples', 'spark-wordcount');
const JVM_OPTS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

let spark: SparkCluster | undefined;
let base: SparkBaseImage | undefined;
let work = '';
let project: string;
let state: string;
let penv: Record<string, string>;

interface Handle {
  id: string;
  type: string;
  ref: Record<string, string>;
}

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...penv,
    FERRY_CACHE_DIR: path.join(work, 'cache'),
    FERRY_STATE_DIR: state,
    DOCKER_CONFIG: path.join(work, 'docker-config'),
    REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
    DOCKER_HOST: undefined,
    DOCKER_CONTEXT: undefined,
    ...extra,
  };
}

const run = (args: string[], timeoutMs = 240_000): Promise<CliResult> => ferry(args, { cwd: project, env: env(), timeoutMs });
const explain = (r: CliResult): string => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-6000)}`;

function yaml(targets: string): string {
  if (base === undefined || spark === undefined) throw new Error('not set up');
  return [
    'apiVersion: ferry/v1',
    'image:',
    // The registry that holds the base: the job image's push then only uploads the job's own layer.
    `  name: ${base.registry.host}/team/spark-job`,
    'registries:',
    `  "${base.registry.host}": {insecure: true}`,
    'job:',
    `  env: {FERRY_E2E: spark}`,
    'targets:',
    targets,
  ].join('\n');
}

/** A standalone target; the driver binds to loopback, where the worker's executors reach it. */
function standalone(name: string, app: string, extra = ''): string {
  return [
    `  ${name}:`,
    '    type: spark',
    `    master: ${spark?.masterUrl ?? ''}`,
    `    app: ${app}`,
    '    engine: podman',
    `    volumes: ["${path.join(work, 'data')}:${path.join(work, 'data')}:ro"]`,
    '    conf:',
    '      spark.driver.host: 127.0.0.1',
    '      spark.driver.bindAddress: 127.0.0.1',
    '      spark.ui.enabled: false',
    `      spark.driver.extraJavaOptions: "${JVM_OPTS}"`,
    `      spark.executor.extraJavaOptions: "${JVM_OPTS}"`,
    extra,
  ].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-e2e-'));
  state = path.join(work, 'state');
  const prepared = await sparkTestImage(work);
  base = prepared.base;
  penv = prepared.penv;
  spark = await startSpark();

  project = path.join(work, 'project');
  await mkdir(path.join(project, 'jobs'), { recursive: true });
  for (const f of ['exit.py', 'sleep.py']) await cp(path.join(FIXTURES, f), path.join(project, 'jobs', f));
  await cp(path.join(EXAMPLE, 'jobs', 'wordcount.py'), path.join(project, 'jobs', 'wordcount.py'));
  await writeFile(path.join(project, 'Dockerfile'), `FROM ${base.ref}\nCOPY jobs/ /app/\n`);
  await mkdir(path.join(work, 'data'));
  await writeFile(path.join(work, 'data', 'words.txt'), 'a b a\nc a b\n');
  await writeFile(
    path.join(project, 'ferry.yaml'),
    yaml(
      [
        standalone('wordcount', 'local:///app/wordcount.py', `    executor: {memory: 512m}\n`) + `\n`,
        standalone('failing', 'local:///app/exit.py'),
        standalone('slow', 'local:///app/sleep.py'),
        standalone('not-in-image', 'local:///app/missing.py'),
        '  local-mode:',
        '    type: spark',
        '    master: local[1]',
        '    app: jobs/exit.py',
        '    engine: podman',
        '    conf: {spark.ui.enabled: false}',
        '  through-docker-api:',
        '    type: spark',
        '    master: local[1]',
        '    app: local:///app/exit.py',
        '    engine: docker',
        '    conf: {spark.ui.enabled: false}',
        '',
      ].join('\n'),
    ),
  );
}, 900_000);

afterAll(async () => {
  // What the tests made, by name and ID: the spark-submit containers (from the saved handles) and
  // the job images podman pulled. The base image keeps its stable tag for the next run.
  const containers: string[] = [];
  for (const f of await readdir(path.join(state, 'handles')).catch(() => [])) {
    const h = (JSON.parse(await readFile(path.join(state, 'handles', f), 'utf8')) as { handle: Handle }).handle;
    if (h.ref['driverContainer'] !== undefined) containers.push(h.ref['driverContainer']);
  }
  if (containers.length > 0) await runProcess('podman', ['rm', '--force', '--time', '0', ...containers], { env: penv, timeoutMs: 120_000 });
  if (base !== undefined) {
    const ids = await runProcess('podman', ['images', '--filter', `reference=${base.registry.host}/team/spark-job`, '--format', '{{.ID}}'], { env: penv });
    const list = [...new Set(ids.stdout.split('\n').filter((l) => l !== ''))];
    if (list.length > 0) await runProcess('podman', ['rmi', '--force', ...list], { env: penv, timeoutMs: 120_000 });
  }
  await spark?.stop();
  await base?.registry.stop();
  if (work !== '') await rm(work, { recursive: true, force: true });
}, 300_000);

describe('ferry deploy to a standalone Spark master', () => {
  it('runs the word count in the pushed image: its result on stdout, exit 0, counted on the worker', async () => {
    const r = await run(['deploy', 'wordcount', '--', path.join(work, 'data', 'words.txt')], 100_000);
    // On failure, the executors' own log (the worker's work dir) says more than the driver's.
    const executors = r.code === 0 ? '' : (await runProcess('sh', ['-c', `find ${spark?.dir ?? '/nonexistent'}/work -name stderr | head -3 | xargs -r tail -n 40`])).stdout;
    expect(r.code, `${explain(r)}\n--- executors\n${executors}`).toBe(0);
    expect(r.stdout.split('\n')).toContain('RESULT a=3 b=2 c=1');
    // stdout carries the job's own output; Spark's log4j lines (the driver's stderr) go to stderr.
    expect(r.stdout).not.toMatch(/ (INFO|WARN) /);
    expect(r.stderr).toMatch(/ INFO /);
    expect(r.stderr).toMatch(/started spark-submit \(spark:\/\/127\.0\.0\.1:\d+, client mode\) as container ferry-spark-wordcount-/);
    const apps = (await spark?.state())?.completedapps ?? [];
    expect(apps.filter((a) => a.name === 'ferry-wordcount').map((a) => a.state)).toEqual(['FINISHED']);
  });

  it('a job that exits 3 makes ferry exit 3', async () => {
    const r = await run(['deploy', 'failing', '--json', '--', '3']);
    expect(r.code, explain(r)).toBe(3);
    const out = envelope<{ state: string; exitCode: number; handle: Handle }>(r);
    expect(out.status).toBe(3);
    expect(out.result?.state).toBe('failed');
    expect(out.result?.exitCode).toBe(3);
    // It reached the cluster first: the driver's output went to stderr under --json.
    expect(r.stderr).toMatch(/^CONNECTED app-/m);
    // status reads the same from the saved handle, by the container's name too.
    const s = await run(['status', '--id', out.result?.handle.ref['driverContainer'] ?? '', '--json']);
    expect(envelope<{ state: string; exitCode: number }>(s).result).toMatchObject({ state: 'failed', exitCode: 3 });
  });

  it('deploy --async, then status, logs -f and cancel from the saved handle', async () => {
    const d = await run(['deploy', 'slow', '--async', '--json']);
    expect(d.code, explain(d)).toBe(0);
    const h = envelope<{ async: boolean; handle: Handle }>(d).result?.handle;
    expect(h?.type).toBe('spark');
    // Wait for the driver to reach the cluster, reading its log as a later ferry would.
    let logs: CliResult | undefined;
    for (let i = 0; i < 120; i++) {
      logs = await run(['logs', '--last', '--json']);
      if (logs.stdout.includes('STARTED app-')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(logs?.code).toBe(0);
    const lines = envelope<{ lines: { text: string }[] }>(logs ?? { code: -1, stdout: '', stderr: '' }).result?.lines ?? [];
    expect(lines.some((l) => /^STARTED app-/.test(l.text))).toBe(true);
    const st = await run(['status', '--last', '--json']);
    expect(envelope<{ state: string; phase: string }>(st).result).toMatchObject({ state: 'running', phase: 'RUNNING' });
    // A follower, started now, ends when cancel stops the driver.
    const following = run(['logs', '--id', h?.id ?? '', '--follow']);
    await new Promise((r) => setTimeout(r, 1000));
    const c = await run(['cancel', '--last', '--json']);
    expect(c.code, explain(c)).toBe(0);
    expect(envelope<{ action: string; before: string }>(c).result).toMatchObject({ action: 'stop spark-submit container', before: 'running' });
    const f = await following;
    expect(f.code, explain(f)).toBe(0);
    expect(f.stdout).toMatch(/^STARTED app-/m);
    const after = await run(['status', '--last', '--json']);
    expect(envelope<{ state: string; exitCode: number }>(after).result).toMatchObject({ state: 'failed', exitCode: 143 });
    // The master ended the application of the driver that went away (and with it its executors).
    let active = true;
    for (let i = 0; i < 60 && active; i++) {
      active = ((await spark?.state())?.activeapps ?? []).some((a) => a.name === 'ferry-sleep');
      if (active) await new Promise((r) => setTimeout(r, 500));
    }
    expect(active).toBe(false);
    expect(((await spark?.state())?.completedapps ?? []).filter((a) => a.name === 'ferry-sleep')).toHaveLength(1);
    const again = await run(['cancel', '--last', '--json']);
    expect(envelope<{ action: string }>(again).result?.action).toBe('none');
    // Its waits are bounded above (the driver's start, the master's cleanup); on a busy 2-core
    // machine they can pass the default 3 minutes, which once failed a CI run.
  }, 360_000);

  it('job.timeout: a run still going then is stopped (the container kept), and ferry fails with RUN_TIMEOUT, exit 75', async () => {
    // The same project with a job.timeout (after the --async test, whose master checks count ferry-sleep apps).
    const file = path.join(project, 'ferry-timeout.yaml');
    await writeFile(file, (await readFile(path.join(project, 'ferry.yaml'), 'utf8')).replace('\njob:\n', '\njob:\n  timeout: 15s\n'));
    const plan = await run(['plan', 'slow', '-c', file, '--json']);
    expect(JSON.stringify(envelope(plan).result)).toContain('job.timeout 15s: while ferry waits');
    const r = await run(['deploy', 'slow', '-c', file, '--json']);
    expect(r.code, explain(r)).toBe(75);
    const e = envelope(r).error;
    expect(e?.code).toBe('RUN_TIMEOUT');
    expect(e?.where).toMatch(/ferry-timeout\.yaml:\d+:\d+ \(job\.timeout\)$/);
    // Not "may still be going": it was stopped.
    expect(r.stderr).not.toMatch(/may still be going/);
    const st = envelope<{ state: string; exitCode: number }>(await run(['status', '--last', '--json'])).result;
    expect(st?.state).toBe('failed');
    expect([143, 137]).toContain(st?.exitCode);
  }, 300_000);

  it('Ctrl-C while the engine pulls the image stops the pull: INTERRUPTED, exit 130, nothing started', async () => {
    if (base === undefined) throw new Error('not set up');
    // A registry in front of the test one that never answers podman's manifest request, so the
    // pull hangs until ferry stops it (ferry's own requests, with its user agent, go through).
    const upstream = new URL(base.registry.url);
    const held: ServerResponse[] = [];
    const proxy = createServer((req, res) => {
      if (req.method === 'GET' && (req.url ?? '').includes('/manifests/') && !/^ferry/.test(req.headers['user-agent'] ?? '')) {
        held.push(res);
        return;
      }
      const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${String((proxy.address() as AddressInfo).port)}`;
    try {
      const file = path.join(project, 'ferry-pull.yaml');
      const text = (await readFile(path.join(project, 'ferry.yaml'), 'utf8'))
        .replace(`  name: ${base.registry.host}/team/spark-job`, `  name: ${host}/team/spark-pull`)
        .replace('registries:\n', `registries:\n  "${host}": {insecure: true}\n`);
      await writeFile(file, text);
      const conf = path.join(work, 'registries-pull.conf');
      await writeFile(conf, `${insecureRegistriesConf(base)}[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
      // A label of its own makes an image podman does not have yet, so that it pulls.
      const r = await ferryThenInterrupt(['deploy', 'wordcount', '-c', file, '--label', `e2e.pull=${randomUUID()}`, '--json'], /podman: pulling /, { cwd: project, env: env({ CONTAINERS_REGISTRIES_CONF: conf }), timeoutMs: 200_000 });
      // Without a stop, the pull (and ferry) would wait on the held request until the guard kills it.
      expect(r.code, explain(r)).toBe(130);
      expect(envelope(r).error?.code).toBe('INTERRUPTED');
      expect(r.stderr).not.toMatch(/started spark-submit/);
    } finally {
      for (const res of held) res.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((r) => {
        proxy.close(() => {
          r();
        });
      });
    }
  }, 300_000);

  it('an app the image does not have: SPARK_FILE_NOT_IN_IMAGE at its key, and no spark-submit started', async () => {
    const r = await run(['deploy', 'not-in-image', '--json']);
    expect(r.code, explain(r)).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe('SPARK_FILE_NOT_IN_IMAGE');
    expect(e?.where).toMatch(/ferry\.yaml:\d+:\d+ \(targets\.not-in-image\.app\)$/);
    expect(r.stderr).not.toMatch(/started spark-submit/);
    const left = await runProcess('podman', ['ps', '-a', '--filter', 'label=dev.ferry.target=not-in-image', '--format', '{{.Names}}'], { env: penv });
    expect(left.stdout.trim()).toBe('');
  });

  it('local[1]: the whole application runs in the container, with an app file from the project mounted', async () => {
    const r = await run(['deploy', 'local-mode', '--', '4']);
    expect(r.code, explain(r)).toBe(4);
    expect(r.stdout).toMatch(/^CONNECTED local-/m);
  });

  it('the spark-wordcount example as written: its local target counts the words of the file in its image', async () => {
    if (base === undefined) throw new Error('not set up');
    const dir = path.join(work, 'example');
    await cp(EXAMPLE, dir, { recursive: true });
    const file = path.join(dir, 'ferry.yaml');
    // Only the registry differs: this run's test registry instead of 127.0.0.1:5000; and the Spark
    // base image is the test's (the same Spark and Python, made without the internet).
    await writeFile(file, (await readFile(file, 'utf8')).replaceAll('127.0.0.1:5000', base.registry.host));
    const r = await ferry(['deploy', 'local', '--config', file, '--build-arg', `SPARK_IMAGE=${base.ref}`], { cwd: dir, env: env(), timeoutMs: 240_000 });
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout.split('\n')).toContain('RESULT a=3 b=2 c=1');
    // Its operator target, written for GitOps with no cluster: the same job and argument.
    const p = await ferry(['plan', 'operator', '--config', file, '--build-arg', `SPARK_IMAGE=${base.ref}`, '--render', '-'], { cwd: dir, env: env({ KUBECONFIG: path.join(work, 'no-kubeconfig') }), timeoutMs: 240_000 });
    expect(p.code, explain(p)).toBe(0);
    const app = parse(p.stdout) as { kind?: string; spec?: { mainApplicationFile?: string; arguments?: string[]; sparkVersion?: string } };
    expect(app).toMatchObject({ kind: 'SparkApplication', spec: { mainApplicationFile: 'local:///app/wordcount.py', arguments: ['/data/words.txt'], sparkVersion: '3.5.3' } });
  });

  it('through a Docker Engine API (podman system service): deploy --async, then status and logs by the container', async () => {
    const svc = await startPodmanService({ env: penv });
    try {
      const viaApi = (args: string[]): Promise<CliResult> => ferry(args, { cwd: project, env: env({ DOCKER_HOST: svc.dockerHost }), timeoutMs: 240_000 });
      const d = await viaApi(['deploy', 'through-docker-api', '--async', '--json', '--', '5']);
      expect(d.code, explain(d)).toBe(0);
      const h = envelope<{ handle: Handle }>(d).result?.handle;
      expect(h?.ref['engine']).toBe('docker');
      let st: { state: string; exitCode?: number } | undefined;
      for (let i = 0; i < 120 && (st === undefined || st.state === 'running' || st.state === 'pending'); i++) {
        await new Promise((r) => setTimeout(r, 1000));
        st = envelope<{ state: string; exitCode?: number }>(await viaApi(['status', '--id', h?.id ?? '', '--json'])).result;
      }
      // The exit code is read from the kept container (podman 4.3's API reports 0 for an auto-removed one).
      expect(st).toMatchObject({ state: 'failed', exitCode: 5 });
      // The handle has the engine's address: a ferry without that DOCKER_HOST still finds the container there.
      expect(h?.ref['engineAddress']).toBe(svc.dockerHost);
      const elsewhere = await run(['status', '--id', h?.id ?? '', '--json']);
      expect(elsewhere.code, explain(elsewhere)).toBe(0);
      expect(envelope<{ state: string; exitCode?: number }>(elsewhere).result).toMatchObject({ state: 'failed', exitCode: 5 });
      const logs = await viaApi(['logs', '--id', h?.ref['driverContainer'] ?? '']);
      expect(logs.code, explain(logs)).toBe(0);
      expect(logs.stdout).toMatch(/^CONNECTED local-/m);
    } finally {
      await svc.stop();
    }
  });
});
