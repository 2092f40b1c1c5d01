import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import { DockerClient } from '../../src/engines/docker/client.js';
import { dockerArchive } from '../../src/image/docker-archive.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { runProcess } from '../../src/infra/process.js';
import { caught } from '../helpers/errors.js';
import { makeBusyboxLayout, type TestLayout } from '../helpers/images.js';
import { podmanEnv } from '../helpers/podman.js';
import { startPodmanService, type PodmanService } from '../helpers/podman-service.js';

/**
 * The Docker Engine API client against a real Docker-compatible API (podman system service):
 * load, inspect, build, export, and a container's whole life.
 */
let svc: PodmanService;
let client: DockerClient;
let layout: TestLayout;
const BASE_TAG = 'ferry.test/client-base:1';
const BUILT_TAG = 'ferry.test/client-built:1';

function contextTar(files: Record<string, string>): Readable {
  const pack = tar.pack();
  for (const [name, text] of Object.entries(files)) pack.entry({ name }, text);
  pack.finalize();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

beforeAll(async () => {
  [svc, layout] = await Promise.all([startPodmanService(), makeBusyboxLayout()]);
  client = new DockerClient({ kind: 'unix', socketPath: svc.socket, source: 'DOCKER_HOST' });
});

afterAll(async () => {
  await client.close();
  await runProcess('podman', ['rmi', '--force', BUILT_TAG, BASE_TAG], { env: await podmanEnv() });
  await svc.stop();
});

describe('DockerClient on podman system service', () => {
  it('pings and reads the version', async () => {
    await client.ping();
    const v = await client.version();
    expect(v.product).toBe('podman');
    expect(v.apiVersion).not.toBe('');
  });

  it('loads a docker-archive streamed from an OCI layout, gzip layers and all, as the config digest', async () => {
    const img = layout.images[0];
    if (img === undefined) throw new Error('no image in the layout');
    await runProcess('podman', ['rmi', '--force', img.config.digest], { env: await podmanEnv() });
    expect(await client.imageInspect(img.config.digest)).toBeUndefined();
    const archive = await dockerArchive({ layout: await OciLayout.open(layout.dir), manifest: img.manifest.digest as `sha256:${string}`, repoTags: [BASE_TAG] });
    const lines = await client.loadImage(archive);
    expect(lines.join(' ')).toContain('Loaded image');
    const info = await client.imageInspect(img.config.digest);
    expect(info?.id).toBe(img.config.digest);
    expect(info?.repoTags).toContain(BASE_TAG);
  });

  it('builds, streaming the output lines, and returns the image ID', async () => {
    const lines: string[] = [];
    const id = await client.build(
      contextTar({ 'Dockerfile': `FROM ${BASE_TAG}\nARG WHO\nRUN echo "step output for $WHO" && echo hi > /hi\nCMD ["cat", "/hi"]\n` }),
      { tag: BUILT_TAG, buildArgs: { WHO: 'ferry' }, labels: { 'dev.ferry.test': '1' } },
      (l) => lines.push(l),
    );
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines).toContain('step output for ferry');
    expect((await client.imageInspect(BUILT_TAG))?.id).toBe(id);

    const failed = await caught(client.build(contextTar({ 'Dockerfile': `FROM ${BASE_TAG}\nRUN echo before-failing && exit 7\n` }), {}, () => undefined));
    expect([failed.code, failed.exitCode]).toEqual(['ENGINE_BUILD_FAILED', 65]);
  });

  it('exports an image as a docker-archive stream', async () => {
    const stream = await client.exportImage(BUILT_TAG);
    const names: string[] = [];
    let manifest = '';
    const extract = tar.extract();
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, body, next) => {
        names.push(header.name);
        const chunks: Buffer[] = [];
        body.on('data', (c: unknown) => chunks.push(c as Buffer));
        body.on('end', () => {
          if (header.name === 'manifest.json') manifest = Buffer.concat(chunks).toString();
          next();
        });
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      stream.on('error', reject);
      stream.pipe(extract);
    });
    expect(names).toContain('manifest.json');
    const m = JSON.parse(manifest) as { Config: string; Layers: string[] }[];
    expect(m[0]?.Layers.length).toBe(2);
  });

  it('runs a container: create, start, demultiplexed logs, wait, inspect, remove', async () => {
    const { id } = await client.createContainer(
      { Image: BUILT_TAG, Entrypoint: ['sh', '-c'], Cmd: ['echo out; echo err >&2; exit 3'], HostConfig: { AutoRemove: false } },
      `ferry-client-test-${process.pid}`,
    );
    await client.startContainer(id);
    let out = '';
    let err = '';
    const stop = new AbortController();
    const logs = client
      .containerLogs(id, { follow: true, signal: stop.signal }, (b) => (out += b.toString()), (b) => (err += b.toString()))
      .catch((e: unknown) => {
        if (!stop.signal.aborted) throw e;
      });
    const code = await client.waitContainer(id);
    // As in the local target: podman 4.3 can keep a follow stream open after a quick container has
    // exited (its output already sent), so the stream gets a grace period, not an unbounded wait.
    const grace = setTimeout(() => {
      stop.abort();
    }, 5000);
    await logs;
    clearTimeout(grace);
    expect([out, err]).toEqual(['out\n', 'err\n']);
    expect(code).toBe(3);
    expect((await client.inspectContainer(id))?.exitCode).toBe(3);
    await client.removeContainer(id, { force: true });
    expect(await client.inspectContainer(id)).toBeUndefined();
    await client.removeContainer(id); // gone already: not an error
  });
});
