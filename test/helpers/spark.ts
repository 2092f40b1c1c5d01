/**
 * A real Spark standalone cluster for tests: one master and one worker JVM on 127.0.0.1, started
 * from the `pyspark` package on PyPI in a private virtualenv (FERRY_SPARK_VENV, default
 * ~/.cache/ferry-ci/spark-venv; .ci/run creates it, and so does ensureSpark() when it is missing).
 * The pip package carries Spark's jars and its bin/ scripts, so no Spark download is needed; Java
 * comes from JAVA_HOME or `java` on PATH (spark-class's own rule).
 *
 * Everything the cluster writes (conf, logs, worker and shuffle dirs) lives in one temp dir, and
 * every process it or a client started through `env` carries a marker variable, so stop() can
 * prove that no JVM or Python worker is left behind.
 *
 * Python apps on a standalone master run in client deploy mode only (spark-submit refuses
 * `--deploy-mode cluster` for them): the driver is the spark-submit process itself, so its exit
 * code is the job's, and stopping it (SIGTERM) ends the application and its executors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { runChecked } from '../../src/infra/process.js';
import { freePort } from './registry.js';
import { pathExists } from '../../src/infra/fs.js';

export const SPARK_VENV = process.env.FERRY_SPARK_VENV ?? path.join(homedir(), '.cache', 'ferry-ci', 'spark-venv');
/** Keep in step with .ci/run. A job's image must carry the same pyspark (and Python minor) as the cluster. */
export const PYSPARK_VERSION = '4.3.0';

/** Set in every process the harness starts, and in `env`, so leftovers can be found in /proc. */
const MARKER = 'FERRY_SPARK_HARNESS';

/**
 * Test JVMs are short-lived and the machine has two busy cores: the C1 compiler alone and the
 * serial collector roughly halved startup and a small job here (JIT threads compete with the work).
 */
const JVM_OPTS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

export interface SparkCluster {
  /** spark://127.0.0.1:PORT, what spark-submit --master takes. */
  masterUrl: string;
  /**
   * http://127.0.0.1:PORT of the master's REST submission server (spark-submit reaches it as
   * spark://127.0.0.1:PORT with --deploy-mode cluster). It serves JVM apps only: Python apps cannot
   * use cluster mode on a standalone master. Answers GET /v1/submissions/readyz.
   */
  restUrl: string;
  /** http://127.0.0.1:PORT of the master's web UI; /json/ describes workers, apps and drivers. */
  webUiUrl: string;
  /** pyspark's bin/spark-submit in the venv. */
  sparkSubmit: string;
  /** The venv's python: driver and executors must run the same Python minor version. */
  python: string;
  /** What a process needs to run spark-submit against this cluster (merge over process.env). */
  env: Record<string, string>;
  /** The temp dir holding conf/, logs/, work/ (executor stdout/stderr per app) and local/. */
  dir: string;
  /** The master's /json/ answer. */
  state(): Promise<MasterState>;
  /** Master and worker output. */
  log(): string;
  /** Pids of live processes carrying this cluster's marker (JVMs, executors, Python workers). */
  processes(): Promise<number[]>;
  /** Stops both JVMs and everything they started, then removes the temp dir. */
  stop(): Promise<void>;
}

export interface MasterState {
  status: string;
  workers: { id: string; state: string; cores: number; memory: number }[];
  activeapps: { id: string; name: string; state: string }[];
  completedapps: { id: string; name: string; state: string }[];
}


/** $VENV/lib/python3.X/site-packages/pyspark: Spark's home in a pip install (jars/, bin/, python/lib). */
async function sparkHomeIn(venv: string): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await readdir(path.join(venv, 'lib'));
  } catch {
    return undefined;
  }
  for (const e of entries.filter((n) => n.startsWith('python3')).sort()) {
    const home = path.join(venv, 'lib', e, 'site-packages', 'pyspark');
    if (await pathExists(path.join(home, 'bin', 'spark-class'))) return home;
  }
  return undefined;
}

async function installedVersion(venv: string): Promise<string | undefined> {
  const home = await sparkHomeIn(venv);
  if (home === undefined) return undefined;
  try {
    // version.py is one assignment: __version__: str = "4.3.0"
    return /__version__[^=]*=\s*["']([^"']+)["']/.exec(await readFile(path.join(home, 'version.py'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Installs pyspark==PYSPARK_VERSION into the venv when it is missing or another version
 * (idempotent; PyPI must be reachable; the sdist is ~460 MB). Returns Spark's home.
 */
export async function ensureSpark(): Promise<string> {
  if ((await installedVersion(SPARK_VENV)) !== PYSPARK_VERSION) {
    await mkdir(path.dirname(SPARK_VENV), { recursive: true });
    await rm(SPARK_VENV, { recursive: true, force: true });
    const python = (await pathExists('/usr/bin/python3')) ? '/usr/bin/python3' : 'python3';
    await runChecked(python, ['-m', 'venv', SPARK_VENV], { timeoutMs: 120_000 });
    await runChecked(path.join(SPARK_VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `pyspark==${PYSPARK_VERSION}`], { timeoutMs: 900_000 });
  }
  const home = await sparkHomeIn(SPARK_VENV);
  if (home === undefined) throw new Error(`pyspark in ${SPARK_VENV} has no bin/spark-class`);
  return home;
}

/** Pids whose environment holds MARKER=value (Linux /proc; processes of other users are skipped). */
async function markedProcesses(value: string): Promise<number[]> {
  const needle = `${MARKER}=${value}\0`;
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = await readFile(`/proc/${name}/environ`, 'latin1');
      if (environ.includes(needle)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

interface Daemon {
  child: ChildProcess;
  log(): string;
}

function startDaemon(sparkHome: string, args: string[], env: NodeJS.ProcessEnv): Daemon {
  // detached: its own process group, so stop() reaches the executors the worker forks too.
  // spark-class execs java, so the child's pid is the JVM's.
  const child = spawn(path.join(sparkHome, 'bin', 'spark-class'), args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const out: string[] = [];
  const keep = (b: Buffer): void => {
    out.push(b.toString('utf8'));
    if (out.length > 2000) out.splice(0, out.length - 2000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', (e) => out.push(`spawn failed: ${e.message}\n`));
  return { child, log: () => out.join('') };
}

async function fetchState(webUiUrl: string): Promise<MasterState> {
  const res = await fetch(`${webUiUrl}/json/`);
  if (res.status !== 200) {
    await res.arrayBuffer();
    throw new Error(`master /json/ answered ${res.status}`);
  }
  return (await res.json()) as MasterState;
}

async function waitFor(what: string, ready: () => Promise<boolean>, daemons: Daemon[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const d of daemons) {
      if (d.child.exitCode !== null || d.child.signalCode !== null) throw new Error(`${what}: a Spark daemon exited (${d.child.exitCode ?? d.child.signalCode}):\n${d.log()}`);
    }
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms:\n${daemons.map((d) => d.log()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopAll(daemons: Daemon[], marker: string): Promise<void> {
  // Worker first, so it does not spend the grace period reconnecting to a vanished master.
  for (const d of [...daemons].reverse()) {
    const { child } = d;
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => { killGroup(child, 'SIGKILL'); }, 10_000);
    await exited;
    clearTimeout(timer);
    killGroup(child, 'SIGKILL'); // whatever else is left in its group
  }
  // Executors' Python daemons make their own process group; they exit when their executor's pipe
  // closes, which may take a moment. Anything still marked after that is killed outright.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await markedProcesses(marker)).length > 0) await new Promise((r) => setTimeout(r, 200));
  for (const pid of await markedProcesses(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

export interface StartSparkOptions {
  /** Worker cores (default 1) and memory (default '1g', which fits one default 1g executor). */
  cores?: number;
  memory?: string;
  /** Readiness timeout for each daemon (default 180 s: JVM startup on a loaded 2-core machine varies a lot). */
  readyTimeoutMs?: number;
}

export async function startSpark(opts: StartSparkOptions = {}): Promise<SparkCluster> {
  const sparkHome = await ensureSpark();
  const python = path.join(SPARK_VENV, 'bin', 'python');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  let lastError: unknown;
  // Ports come from freePort() and are bound a moment later by the JVM; with
  // spark.port.maxRetries=0 a lost race makes the daemon exit instead of silently moving to the
  // next port, and we start over on fresh ports.
  for (let tries = 0; tries < 3; tries++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-spark-'));
    const [port, webUiPort, restPort, workerUiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const confDir = path.join(dir, 'conf');
    await mkdir(confDir);
    // Read by the daemons and by every spark-submit given `env` (SPARK_CONF_DIR).
    await writeFile(
      path.join(confDir, 'spark-defaults.conf'),
      [
        // Off by default since Spark 4; on here so tests can reach it (JVM apps' cluster mode).
        'spark.master.rest.enabled true',
        'spark.master.rest.host 127.0.0.1',
        `spark.master.rest.port ${restPort}`,
        `spark.driver.extraJavaOptions ${JVM_OPTS}`,
        `spark.executor.extraJavaOptions ${JVM_OPTS}`,
        // The driver's own UI (port 4040 and up) is not needed and costs startup time.
        'spark.ui.enabled false',
        '',
      ].join('\n'),
    );
    const env: Record<string, string> = {
      SPARK_HOME: sparkHome,
      SPARK_CONF_DIR: confDir,
      SPARK_LOCAL_IP: '127.0.0.1',
      SPARK_LOCAL_DIRS: path.join(dir, 'local'),
      // Driver and executors must run the same Python; the venv's has pyspark importable.
      PYSPARK_PYTHON: python,
      PYSPARK_DRIVER_PYTHON: python,
      [MARKER]: dir,
    };
    const daemonEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...env,
      SPARK_LOG_DIR: path.join(dir, 'logs'),
      SPARK_WORKER_DIR: path.join(dir, 'work'),
      SPARK_PID_DIR: dir,
      SPARK_DAEMON_JAVA_OPTS: `${JVM_OPTS} -Dspark.port.maxRetries=0`,
    };
    const daemons: Daemon[] = [];
    const webUiUrl = `http://127.0.0.1:${webUiPort}`;
    // If the test process dies without afterAll, do not leave two JVMs running.
    const onExit = (): void => { for (const d of daemons) killGroup(d.child, 'SIGKILL'); };
    process.once('exit', onExit);
    try {
      daemons.push(startDaemon(sparkHome, ['org.apache.spark.deploy.master.Master', '--host', '127.0.0.1', '--port', String(port), '--webui-port', String(webUiPort)], daemonEnv));
      await waitFor('Spark master', async () => (await fetchState(webUiUrl)).status === 'ALIVE', daemons, readyTimeoutMs);
      daemons.push(
        startDaemon(
          sparkHome,
          ['org.apache.spark.deploy.worker.Worker', `spark://127.0.0.1:${port}`, '--host', '127.0.0.1', '--cores', String(opts.cores ?? 1), '--memory', opts.memory ?? '1g', '--webui-port', String(workerUiPort), '--work-dir', path.join(dir, 'work')],
          daemonEnv,
        ),
      );
      await waitFor('Spark worker', async () => (await fetchState(webUiUrl)).workers.some((w) => w.state === 'ALIVE'), daemons, readyTimeoutMs);
    } catch (e) {
      lastError = e;
      await stopAll(daemons, dir);
      process.removeListener('exit', onExit);
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    const log = (): string => daemons.map((d) => d.log()).join('\n');
    return {
      masterUrl: `spark://127.0.0.1:${port}`,
      restUrl: `http://127.0.0.1:${restPort}`,
      webUiUrl,
      sparkSubmit: path.join(sparkHome, 'bin', 'spark-submit'),
      python,
      env,
      dir,
      state: () => fetchState(webUiUrl),
      log,
      processes: () => markedProcesses(dir),
      async stop() {
        await stopAll(daemons, dir);
        process.removeListener('exit', onExit);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  throw lastError instanceof Error ? lastError : new Error('could not start Spark');
}

