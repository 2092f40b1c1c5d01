import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type RunResult } from '../../src/infra/process.js';
import { startSpark, type SparkCluster } from '../helpers/spark.js';

/**
 * The harness the Spark target's tests will stand on: a real standalone master and worker from
 * pyspark's jars (test/helpers/spark.ts), driven here by plain spark-submit. It proves what the
 * adapter will rely on: a PySpark job runs on the worker's executor and prints its result; the
 * driver's exit code is spark-submit's (client mode, the only mode for Python on standalone); the
 * REST server is up but refuses Python in cluster mode; and stop() leaves no process behind.
 */
const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'spark');
/** The word count is the example's own (examples/spark-wordcount). */
const EXAMPLE_JOBS = path.resolve(import.meta.dirname, '..', '..', 'examples', 'spark-wordcount', 'jobs');

let spark: SparkCluster;
/** Set only once startSpark() succeeded, for afterAll. */
let started: SparkCluster | undefined;
let work: string;

function submit(args: string[]): Promise<RunResult> {
  return runProcess(spark.sparkSubmit, args, { env: { ...process.env, ...spark.env }, cwd: work, timeoutMs: 150_000 });
}

function explain(r: RunResult): string {
  return `exit ${r.code} (${r.signal ?? 'no signal'})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr.slice(-8000)}\n--- cluster\n${spark.log().slice(-4000)}`;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-job-'));
  spark = started = await startSpark();
});

afterAll(async () => {
  await started?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Spark standalone harness', () => {
  it('starts a master with one live worker on loopback', async () => {
    expect(spark.masterUrl).toMatch(/^spark:\/\/127\.0\.0\.1:\d+$/);
    const state = await spark.state();
    expect(state.status).toBe('ALIVE');
    expect(state.workers.filter((w) => w.state === 'ALIVE')).toHaveLength(1);
    // master and worker JVMs, found by the marker stop() uses
    expect((await spark.processes()).length).toBeGreaterThanOrEqual(2);
  });

  it('runs a PySpark job in client mode: its result on stdout and exit 0', async () => {
    const input = path.join(work, 'words.txt');
    await writeFile(input, 'a b a\nc a b\n');
    const r = await submit(['--master', spark.masterUrl, path.join(EXAMPLE_JOBS, 'wordcount.py'), input]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout.split('\n')).toContain('RESULT a=3 b=2 c=1');
    // The words were counted on the worker's executor, not in a local-mode driver.
    const state = await spark.state();
    expect(state.completedapps.filter((a) => a.name === 'ferry-wordcount').map((a) => a.state)).toEqual(['FINISHED']);
  });

  it('a job that exits 3 makes spark-submit exit 3: in client mode the driver is spark-submit', async () => {
    const r = await submit(['--master', spark.masterUrl, path.join(FIXTURES, 'exit.py'), '3']);
    expect(r.code, explain(r)).toBe(3);
    // It did reach the cluster before failing.
    expect(r.stdout).toMatch(/^CONNECTED app-/m);
  });

  it('serves the REST submission API, which refuses Python apps in cluster mode', async () => {
    const res = await fetch(`${spark.restUrl}/v1/submissions/readyz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { success?: boolean }).success).toBe(true);

    const restMaster = spark.restUrl.replace(/^http:/, 'spark:');
    const r = await submit(['--master', restMaster, '--deploy-mode', 'cluster', path.join(FIXTURES, 'exit.py'), '0']);
    expect(r.code, explain(r)).not.toBe(0);
    // Spark's own words, pinned because they are the reason the Spark target drives client mode.
    expect(r.stderr).toMatch(/Cluster deploy mode is currently not supported for python applications on standalone clusters/);
    expect(r.stdout).not.toContain('CONNECTED');
  });

  it('stop() ends both JVMs and everything they started', async () => {
    await spark.stop();
    expect(await spark.processes()).toEqual([]);
    await expect(spark.state()).rejects.toThrow();
  });
});
