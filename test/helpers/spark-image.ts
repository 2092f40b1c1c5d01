/**
 * A Spark driver base image for tests, made without the internet: this machine's Java 17, its
 * Debian Python 3.11 and the harness's pyspark virtualenv (test/helpers/spark.ts), so a job image
 * built FROM it runs `spark-submit` against the harness's cluster with the same Spark and Python
 * minor the cluster runs (Spark requires both to match between driver and executors).
 *
 * The rootfs is ~900 MB. Packing, hashing and pushing it costs about a minute, so it is done once:
 * the image goes into a registry storage folder kept under ~/.cache/ferry-ci/spark-driver/<key>,
 * where <key> hashes what the image is made of (the JDK's release file, the Python binary, the
 * pyspark version, this recipe's version). A test starts a registry on that storage (startRegistry's
 * storageDir) and finds the image there on every later run. The layer is left uncompressed (an OCI
 * `tar` layer): gzip would cost more time than it saves on loopback.
 *
 * The venv keeps its host path inside the image: PySpark's executors run the Python named by the
 * driver's PYSPARK_PYTHON, and on a standalone cluster they run on the worker (this machine), so the
 * same path must work in both places.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { runChecked, runProcess } from '../../src/infra/process.js';
import { ensureBusybox } from './images.js';
import { podmanEnv } from './podman.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { ensureSpark, PYSPARK_VERSION, SPARK_VENV } from './spark.js';
import { pathExists } from '../../src/infra/fs.js';

/** Bump when the recipe below changes: it is part of the cache key. */
const RECIPE = 'spark-driver-5';
const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const PYTHON = '/usr/bin/python3.11';
const CACHE = process.env['FERRY_SPARK_IMAGE_CACHE'] ?? path.join(homedir(), '.cache', 'ferry-ci', 'spark-driver');
export const SPARK_BASE_REPOSITORY = 'ferry-test/spark-driver';

export interface SparkBaseImage {
  /** The registry serving the kept storage. Stop it in afterAll. */
  registry: TestRegistry;
  /** host/ferry-test/spark-driver:<key> */
  ref: string;
  key: string;
  /** Where the image's Spark lives: SPARK_HOME in the image. */
  sparkHome: string;
  /** The venv's python, the same path in the image and on this machine. */
  python: string;
}


async function sha256sum(file: string): Promise<string> {
  return `sha256:${(await runChecked('sha256sum', [file], { timeoutMs: 300_000 })).stdout.split(' ')[0] ?? ''}`;
}

async function cacheKey(): Promise<string> {
  const h = createHash('sha256');
  h.update(RECIPE);
  h.update(await readFile(path.join(JAVA_HOME, 'release')));
  h.update(await readFile(PYTHON));
  h.update(PYSPARK_VERSION);
  h.update(SPARK_VENV);
  return h.digest('hex').slice(0, 16);
}

async function buildRootfs(sparkHome: string): Promise<string> {
  const rootfs = await mkdtemp(path.join(tmpdir(), 'ferry-spark-rootfs-'));
  for (const d of ['bin', 'etc', 'tmp', 'root', 'usr/bin']) await mkdir(path.join(rootfs, d), { recursive: true });
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  await copyFile(await ensureBusybox(), path.join(rootfs, 'bin', 'busybox'));
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  // What Spark's bin/ scripts call besides bash.
  for (const applet of ['sh', 'dirname', 'basename', 'ps', 'head', 'tail', 'cat', 'ls', 'uname', 'sed', 'grep', 'tr', 'cut', 'mkdir', 'rm', 'sleep', 'id', 'readlink', 'wc', 'true', 'false', 'expr', 'hostname', 'test', 'env']) {
    await symlink('busybox', path.join(rootfs, 'bin', applet));
  }
  await symlink('/bin/busybox', path.join(rootfs, 'usr', 'bin', 'env'));
  await writeFile(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\n');

  const libDynload = '/usr/lib/python3.11/lib-dynload';
  const sos = (await runChecked('find', [libDynload, path.join(JAVA_HOME, 'lib'), '-name', '*.so'])).stdout.split('\n').filter((l) => l !== '');
  const libs = new Set<string>();
  for (const bin of ['/usr/bin/bash', PYTHON, path.join(JAVA_HOME, 'bin', 'java'), ...sos]) {
    const out = (await runChecked('ldd', [bin]).catch(() => ({ stdout: '' }))).stdout;
    for (const m of out.matchAll(/=> (\/\S+)/g)) if (m[1] !== undefined && !m[1].startsWith(JAVA_HOME)) libs.add(m[1]);
  }
  libs.add('/lib64/ld-linux-x86-64.so.2');
  // Loaded at run time rather than linked (ldd cannot see them): zstd-jni, which Spark's shuffle
  // uses, extracts a .so that needs libpthread; the JVM and Python resolve names through NSS.
  for (const lib of ['libpthread.so.0', 'libdl.so.2', 'librt.so.1', 'libutil.so.1', 'libgcc_s.so.1', 'libstdc++.so.6', 'libresolv.so.2', 'libnss_files.so.2', 'libnss_dns.so.2']) {
    if (await pathExists(`/lib/x86_64-linux-gnu/${lib}`)) libs.add(`/lib/x86_64-linux-gnu/${lib}`);
  }
  // From /, with relative names: coreutils 9.1's `cp -a --parents` fails on absolute sources.
  const files = ['/usr/bin/bash', PYTHON, '/usr/lib/python3.11', ...libs];
  await runChecked('cp', ['-rL', '--preserve=mode', '--parents', ...files.map((f) => f.slice(1)), rootfs], { cwd: '/', timeoutMs: 300_000 });
  for (const junk of ['test', 'idlelib', 'tkinter', 'ensurepip', 'lib2to3']) await rm(path.join(rootfs, 'usr/lib/python3.11', junk), { recursive: true, force: true });
  await symlink('/usr/bin/bash', path.join(rootfs, 'bin', 'bash'));
  await symlink('python3.11', path.join(rootfs, 'usr', 'bin', 'python3'));
  // The JRE without what a runtime does not read (jmods, headers, docs); links followed, except
  // the dangling src.zip.
  await mkdir(path.join(rootfs, JAVA_HOME.slice(1)), { recursive: true });
  for (const part of ['bin', 'conf', 'lib', 'release']) {
    await runChecked('cp', ['-rL', '--preserve=mode', path.join(JAVA_HOME, part), path.join(rootfs, JAVA_HOME.slice(1))], { timeoutMs: 300_000 }).catch(async () => {
      // cp -L stops at a dangling link but has copied the rest; src.zip is the known one.
      await rm(path.join(rootfs, JAVA_HOME.slice(1), 'lib', 'src.zip'), { force: true });
    });
  }
  // The venv keeps its links (bin/python3 -> /usr/bin/python3, present in the image) and its path.
  await mkdir(path.join(rootfs, path.dirname(SPARK_VENV).slice(1)), { recursive: true });
  await runChecked('cp', ['-a', SPARK_VENV, path.join(rootfs, SPARK_VENV.slice(1))], { timeoutMs: 300_000 });
  await runChecked('find', [rootfs, '-name', '__pycache__', '-type', 'd', '-prune', '-exec', 'rm', '-rf', '{}', '+']);
  if (!(await pathExists(path.join(rootfs, sparkHome.slice(1), 'bin', 'spark-submit')))) throw new Error('spark-submit missing from the driver rootfs');
  return rootfs;
}

async function writeLayout(rootfs: string, sparkHome: string, python: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-spark-oci-'));
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tarPath = path.join(dir, 'layer.tar');
  await runChecked('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', tarPath, '.'], { timeoutMs: 600_000 });
  const add = async (file: string): Promise<{ digest: string; size: number }> => {
    const digest = await sha256sum(file);
    await rename(file, path.join(dir, 'blobs', 'sha256', digest.slice(7)));
    return { digest, size: (await stat(path.join(dir, 'blobs', 'sha256', digest.slice(7)))).size };
  };
  const layer = await add(tarPath);
  const json = async (v: unknown): Promise<{ digest: string; size: number }> => {
    const f = path.join(dir, `tmp-${String(Date.now())}.json`);
    await writeFile(f, JSON.stringify(v));
    return add(f);
  };
  const config = await json({
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: [
        `PATH=${sparkHome}/bin:${JAVA_HOME}/bin:/usr/bin:/bin`,
        `JAVA_HOME=${JAVA_HOME}`,
        `SPARK_HOME=${sparkHome}`,
        `PYSPARK_PYTHON=${python}`,
        'LANG=C.UTF-8',
        'HOME=/root',
      ],
      Cmd: ['spark-submit', '--version'],
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'ferry test helper: Java 17, Python 3.11, pyspark venv' }],
  });
  const manifest = await json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  });
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
  );
  return dir;
}

/**
 * A registry (on kept storage) that holds the driver base image; builds and pushes the image the
 * first time only.
 */
export async function sparkBaseImage(): Promise<SparkBaseImage> {
  const sparkHome = await ensureSpark();
  const python = path.join(SPARK_VENV, 'bin', 'python');
  const key = await cacheKey();
  const storageDir = path.join(CACHE, key, 'registry');
  await mkdir(storageDir, { recursive: true });
  const registry = await startRegistry({ storageDir });
  const ref = `${registry.host}/${SPARK_BASE_REPOSITORY}:${key}`;
  try {
    const res = await fetch(`${registry.url}/v2/${SPARK_BASE_REPOSITORY}/manifests/${key}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    if (res.status !== 200) {
      // Stale keys from older recipes or JDK updates are left to the user: ~/.cache is theirs.
      const rootfs = await buildRootfs(sparkHome);
      try {
        const layout = await writeLayout(rootfs, sparkHome, python);
        try {
          await runChecked('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${ref}`], { timeoutMs: 900_000 });
        } finally {
          await rm(layout, { recursive: true, force: true });
        }
      } finally {
        await rm(rootfs, { recursive: true, force: true });
      }
    }
  } catch (e) {
    await registry.stop();
    throw e;
  }
  return { registry, ref, key, sparkHome, python };
}

/**
 * Puts the base image in podman's storage under a stable name (localhost/ferry-test/spark-driver:KEY),
 * so the ~1 GB base layer stays there when a test removes, by ID, the job images it pulled; the name
 * with the registry's port (new every run) is dropped. `env` must let podman reach the registry
 * (CONTAINERS_REGISTRIES_CONF marking it insecure).
 */
export async function keepBaseInPodman(base: SparkBaseImage, env: Record<string, string>): Promise<void> {
  const stable = `localhost/ferry-test/spark-driver:${base.key}`;
  const pulled = await runProcess('podman', ['pull', base.ref], { env, timeoutMs: 600_000 });
  if (pulled.code !== 0) throw new Error(`podman pull ${base.ref}: ${pulled.stderr}`);
  await runProcess('podman', ['tag', base.ref, stable], { env });
  await runProcess('podman', ['untag', stable, base.ref], { env });
}

/** registries.conf content that marks the base image's registry as plain HTTP for podman. */
export function insecureRegistriesConf(base: SparkBaseImage): string {
  return `[[registry]]\nlocation = "${base.registry.host}"\ninsecure = true\n`;
}

/**
 * What a Spark e2e file needs before its first deploy, in its work dir: an empty auth file (ferry
 * and podman both read it: no credentials anywhere), the driver base image, and podman's
 * environment with a registries.conf for the plain-HTTP test registry (podman pulls the job image
 * itself, with its own registry settings), the base image kept in podman.
 */
export async function sparkTestImage(work: string): Promise<{ base: SparkBaseImage; penv: Record<string, string> }> {
  await writeFile(path.join(work, 'no-auth.json'), '{"auths":{}}');
  const base = await sparkBaseImage();
  const conf = path.join(work, 'registries.conf');
  await writeFile(conf, insecureRegistriesConf(base));
  const penv = { ...(await podmanEnv()), CONTAINERS_REGISTRIES_CONF: conf };
  await keepBaseInPodman(base, penv);
  return { base, penv };
}
