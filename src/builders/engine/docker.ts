/**
 * The docker builder: any Docker Engine API (Docker itself, or podman's `podman system service`).
 * ferry sends the context as a tar (with .dockerignore applied), streams the build's output to
 * stderr, then exports the image (GET /images/{id}/get, a `docker save` archive) and imports it
 * like any engine's image.
 *
 * The Engine API's build takes no registries.conf: a Docker daemon reads mirrors from its own
 * configuration (registry-mirrors). So when ferry.yaml names mirrors, ferry pulls each base image
 * through its mirror first and tags it under the name the Dockerfile uses; the build then finds it
 * locally. Build secrets and SSH need BuildKit's session protocol, which this API path does not
 * speak: they are refused with a clear error rather than silently dropped.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { createWriteStream } from 'node:fs';
import { dataError, FerryError, usageError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import { formatPlatform } from '../../image/platform.js';
import { DockerClient } from '../../engines/docker/client.js';
import { describeEndpoint, discoverDockerEndpoint } from '../../engines/docker/endpoint.js';
import { imageSources } from '../native/builder.js';
import { resolveBuildPlan } from '../native/dockerfile.js';
import { contextTar } from './context-tar.js';
import { buildFailed, StepTracker } from './step-errors.js';
import type { Engine, EngineBuildRequest, EngineOutput } from './types.js';

export function dockerEngine(): Engine {
  return { kind: 'docker', available, build };
}

async function available(env: NodeJS.ProcessEnv): Promise<true | string> {
  let client: DockerClient | undefined;
  try {
    const { endpoint } = await discoverDockerEndpoint(env);
    client = new DockerClient(endpoint, { connectTimeoutMs: 3000, requestTimeoutMs: 5000 });
    await client.ping();
    return true;
  } catch (e) {
    return e instanceof FerryError ? e.message : String(e);
  } finally {
    await client?.close();
  }
}

async function build(req: EngineBuildRequest): Promise<EngineOutput> {
  if (req.secrets.length > 0 || req.ssh.length > 0) {
    throw usageError('ENGINE_FEATURE_UNSUPPORTED', `the docker builder cannot pass ${req.secrets.length > 0 ? '--secret' : '--ssh'}: the Engine API's build has no BuildKit session`, {
      where: req.secrets.length > 0 ? '--secret' : '--ssh',
      suggestions: ['build with --builder podman or --builder buildah, which take secrets and SSH'],
    });
  }
  const { endpoint } = await discoverDockerEndpoint(req.env);
  const client = new DockerClient(endpoint, { reporter: req.reporter });
  try {
    await client.ping();
    req.reporter.info(`building with docker (${describeEndpoint(endpoint)})`);
    warnEndpoints(req);
    await pullThroughMirrors(client, req);
    const ctx = await contextTar(req.contextDir, req.dockerfile, req.exclude);
    const tracker = new StepTracker(req.parsed);
    let id: string;
    try {
      id = await client.build(
        ctx.stream,
        {
          dockerfile: ctx.dockerfile,
          buildArgs: req.buildArgs,
          ...(req.target !== undefined ? { target: req.target } : {}),
          platform: formatPlatform(req.platform),
          labels: req.labels,
          noCache: req.noCache,
          // ferry's own credentials (ECR tokens) for the registries FROM pulls from (X-Registry-Config).
          ...(req.registryAuth !== undefined && Object.keys(req.registryAuth).length > 0 ? { registryAuth: { ...req.registryAuth } } : {}),
          ...(req.signal !== undefined ? { signal: req.signal } : {}),
        },
        (line) => {
          tracker.line(line);
          req.reporter.info(`  ${line}`);
        },
      );
      await ctx.done;
    } catch (e) {
      if (e instanceof FerryError && e.code === 'ENGINE_BUILD_FAILED') {
        const engineError = typeof e.details?.['engineError'] === 'string' ? e.details['engineError'] : undefined;
        throw buildFailed('docker', tracker, engineError ?? 'failed', engineError !== undefined ? [engineError] : []);
      }
      throw e;
    }
    const dir = path.join(req.workDir, 'image');
    await mkdir(dir, { recursive: true });
    await extract(await client.exportImage(id, req.signal), dir);
    return { format: 'docker-archive', dir, imageId: id };
  } finally {
    await client.close();
  }
}

/**
 * A Docker daemon pulls from the registry an image names, and the Engine API has no way to send a
 * host elsewhere: registries.HOST.endpoint cannot apply. Said plainly rather than ignored.
 */
function warnEndpoints(req: EngineBuildRequest): void {
  for (const host of req.pullHosts ?? []) {
    const endpoint = req.endpoints?.[host];
    if (endpoint === undefined) continue;
    req.reporter.warn(
      `registries.${host}.endpoint (${endpoint}) does not apply to the docker builder: the Docker daemon pulls ${host} images from ${host} itself; build with --builder podman or buildah to use the endpoint`,
    );
  }
}

/**
 * registries.mirrors for a daemon that only knows its own: each base image of a mirrored registry
 * is pulled from its mirror and tagged with the name the Dockerfile uses. A mirror that lacks it is
 * skipped; the build then pulls from the registry itself, as it would have.
 */
async function pullThroughMirrors(client: DockerClient, req: EngineBuildRequest): Promise<void> {
  if (req.mirrors === undefined || Object.keys(req.mirrors).length === 0) return;
  const plan = resolveBuildPlan(req.parsed, { ...(req.target !== undefined ? { target: req.target } : {}), buildArgs: req.buildArgs });
  const seen = new Set<string>();
  for (const stage of plan.required) {
    if (stage.base.kind !== 'image' || seen.has(stage.base.ref)) continue;
    seen.add(stage.base.ref);
    const ref = parseImageRef(stage.base.ref);
    const sources = imageSources(ref, req.mirrors).slice(0, -1);
    // A digest-pinned FROM is looked up by its repository digest, which a re-tag cannot give it.
    if (sources.length === 0 || ref.digest !== undefined) continue;
    if ((await client.imageInspect(stage.base.ref)) !== undefined) continue;
    const reference = ref.tag ?? 'latest';
    for (const s of sources) {
      const from = `${s.registry}/${s.repository}`;
      try {
        await client.pullImage(from, reference, formatPlatform(req.platform), req.signal);
        await client.tagImage(`${from}:${reference}`, ref.name, reference);
        req.reporter.info(`  base ${ref.familiar()} pulled through the mirror ${from}`);
        break;
      } catch (e) {
        req.reporter.info(`  mirror ${from} has no ${ref.familiar()} (${e instanceof FerryError ? e.code : String(e)}); trying the next source`);
      }
    }
  }
}

/** Unpacks a `docker save` archive, refusing any entry that would land outside `dir`. */
async function extract(stream: NodeJS.ReadableStream, dir: string): Promise<void> {
  const x = tar.extract();
  const done = (async (): Promise<void> => {
    for await (const entry of x) {
      const name = entry.header.name;
      const target = path.resolve(dir, name);
      if (target !== dir && !target.startsWith(dir + path.sep)) {
        throw dataError('ENGINE_EXPORT_INVALID', `the engine's export names ${name}, outside the export`);
      }
      if (entry.header.type === 'directory') {
        await mkdir(target, { recursive: true });
        entry.resume();
      } else if (entry.header.type === 'file') {
        await mkdir(path.dirname(target), { recursive: true });
        await pipeline(entry, createWriteStream(target));
      } else {
        // Symlinks and the rest are not part of the save format ferry reads.
        entry.resume();
      }
    }
  })();
  await Promise.all([pipeline(stream, x), done]);
}
