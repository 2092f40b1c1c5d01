import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeployInput } from '../../src/core/target.js';
import type { ContainerRun } from '../../src/targets/local/engine.js';
import { propertiesText, withPrivateFiles } from '../../src/targets/spark/private-files.js';
import { sparkTargetSchema, type SparkTargetConfig } from '../../src/targets/spark/schema.js';
import { sparkSubmitFor, type SparkSubmit } from '../../src/targets/spark/submit.js';

/**
 * What deploy hands the spark-submit container besides the planned spec: job.env's values (never
 * on a command line or in the plan) and a readable copy of the kubeconfig, in a private temp dir
 * removed afterwards, mounted read-only with the SELinux option z (the user's own mounts are not
 * relabelled). The properties text is checked against java.util.Properties' reading rules.
 */
let dir: string;
const IMAGE = `registry.example.com/team/job@sha256:${'a'.repeat(64)}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-files-'));
  await writeFile(path.join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\n', { mode: 0o600 });
});

function submitFor(config: Record<string, unknown>, env: Record<string, string>): SparkSubmit {
  const input: DeployInput<SparkTargetConfig> = {
    target: 'nightly',
    config: sparkTargetSchema.parse({ type: 'spark', ...config }),
    image: { ref: IMAGE, digest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, platform: 'linux/amd64' },
    job: { env },
    file: path.join(dir, 'ferry.yaml'),
  };
  return sparkSubmitFor(input, { runId: '20261129-0123456789ab', env: { HOME: dir } });
}

function specOf(s: SparkSubmit): ContainerRun {
  return { image: 'sha256:b', name: s.container.name, command: s.container.command, args: s.argv, env: s.container.env, volumes: s.container.volumes, ports: [], network: s.container.network, labels: s.container.labels };
}

describe('the private files of a spark-submit run', () => {
  it('k8s://: job.env as driverEnv and executorEnv properties, the kubeconfig copied readable; both mounted ro,z; gone afterwards', async () => {
    const env = { TOKEN: 's3cr=t:x y', LEVEL: 'info' };
    const s = submitFor({ master: 'k8s://https://h:6443', app: 'local:///app/job.py', kubernetes: { kubeconfig: 'kubeconfig' } }, env);
    let seen: { spec: ContainerRun; props: string; kubeMode: number; propsMode: number } | undefined;
    await withPrivateFiles(specOf(s), s, env, async (spec) => {
      const props = spec.volumes.find((v) => v.target === '/ferry/conf/spark-submit.properties');
      const kube = spec.volumes.find((v) => v.target === '/ferry/kube/config');
      seen = { spec, props: await readFile(props?.source ?? '', 'utf8'), kubeMode: (await stat(kube?.source ?? '')).mode & 0o777, propsMode: (await stat(props?.source ?? '')).mode & 0o777 };
    });
    if (seen === undefined) throw new Error('use was not called');
    expect(seen.props).toContain('spark.kubernetes.driverEnv.TOKEN=s3cr=t:x y\n');
    expect(seen.props).toContain('spark.executorEnv.LEVEL=info\n');
    expect([seen.kubeMode, seen.propsMode]).toEqual([0o644, 0o644]);
    const ferryMounts = seen.spec.volumes.filter((v) => v.target.startsWith('/ferry/kube') || v.target.startsWith('/ferry/conf'));
    expect(ferryMounts.map((v) => [v.target, v.readOnly, v.options])).toEqual([
      ['/ferry/kube/config', true, ['z']],
      ['/ferry/conf/spark-submit.properties', true, ['z']],
    ]);
    // The user's kubeconfig itself is not mounted (nor relabelled); the copies are removed.
    expect(seen.spec.volumes.some((v) => v.source === path.join(dir, 'kubeconfig'))).toBe(false);
    await expect(stat(path.dirname(ferryMounts[0]?.source ?? ''))).rejects.toThrow(/ENOENT/);
    // No value in the container's environment or arguments.
    expect(JSON.stringify([seen.spec.args, seen.spec.env])).not.toMatch(/s3cr|info/);
  });

  it('spark://: the driver (this container) gets job.env in its environment, the executors from the properties file; user volumes keep their options', async () => {
    await writeFile(path.join(dir, 'data.txt'), 'x\n');
    const s = submitFor({ master: 'spark://m:7077', app: 'local:///app/job.py', volumes: ['./data.txt:/data/data.txt:ro'] }, { K: 'v' });
    let spec: ContainerRun | undefined;
    await withPrivateFiles(specOf(s), s, { K: 'v' }, (sp) => {
      spec = sp;
      return Promise.resolve();
    });
    expect(spec?.env).toEqual([['K', 'v']]);
    expect(spec?.volumes.map((v) => [v.target, v.options])).toEqual([
      ['/data/data.txt', []],
      ['/ferry/conf/spark-submit.properties', ['z']],
    ]);
  });

  it('local[*] without job.env: no private directory, nothing added', async () => {
    const s = submitFor({ master: 'local[*]', app: 'local:///app/job.py' }, {});
    let spec: ContainerRun | undefined;
    await withPrivateFiles(specOf(s), s, {}, (sp) => {
      spec = sp;
      return Promise.resolve();
    });
    expect(spec?.volumes).toEqual([]);
    expect(spec?.env).toEqual([]);
  });

  it('properties text escapes what java.util.Properties would read otherwise', () => {
    expect(propertiesText([['a=b: c', ' lead\\ing\nnext\té']])).toBe('# written by ferry for one spark-submit run; removed once it started\na\\=b\\:\\ c=\\ lead\\\\ing\\nnext\\t\\u00e9\n');
    expect(propertiesText([['k', '😀#!']]).split('\n')[1]).toBe('k=\\ud83d\\ude00#!');
  });
});
