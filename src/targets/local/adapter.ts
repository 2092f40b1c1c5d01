/**
 * The local target: which engine runs the container.
 *
 * `auto` picks, in order:
 *   1. the Docker Engine API when it is configured explicitly (DOCKER_HOST, DOCKER_CONTEXT, or a
 *      current context other than "default"): the user said where their engine is, so a failure
 *      to reach it is reported, not papered over by another engine;
 *   2. the default socket /var/run/docker.sock, when it answers;
 *   3. the podman CLI, when it is on PATH;
 * and otherwise fails with ENGINE_NOT_FOUND, listing everything it tried.
 * `docker` and `podman` use that engine only.
 */
import type { RunContext } from '../../core/context.js';
import { FerryError, unavailableError } from '../../core/errors.js';
import { runProcess } from '../../infra/process.js';
import { DockerClient } from '../../engines/docker/client.js';
import { discoverDockerEndpoint, DEFAULT_DOCKER_SOCKET } from '../../engines/docker/endpoint.js';
import { dockerEngine } from './docker.js';
import { podmanEngine, PODMAN } from './podman.js';
import type { LocalEngine } from './engine.js';
import { pathExists } from '../../infra/fs.js';

export type EnginePreference = 'auto' | 'docker' | 'podman';

const HOW_TO_GET_ONE = [
  'install podman (apt-get install podman; on macOS: brew install podman && podman machine init && podman machine start)',
  'or start Docker (systemctl start docker, or Docker Desktop), or point DOCKER_HOST at a Docker Engine API, e.g. DOCKER_HOST=unix:///run/user/1000/podman/podman.sock after `podman system service --time=0 &`',
];

export async function chooseEngine(pref: EnginePreference, ctx: RunContext): Promise<LocalEngine> {
  if (pref === 'docker') return docker(ctx);
  if (pref === 'podman') {
    const p = await podman(ctx);
    if (typeof p === 'string') {
      throw unavailableError('ENGINE_NOT_FOUND', `podman is not available: ${p}`, {
        where: '--engine',
        suggestions: [HOW_TO_GET_ONE[0] ?? '', 'or use --engine docker with a Docker Engine API'],
      });
    }
    return p;
  }
  const tried: string[] = [];
  const explicit = await explicitDocker(ctx.env);
  if (explicit) return docker(ctx);
  const found = await discoverDockerEndpoint(ctx.env);
  tried.push(...found.tried);
  if (await pathExists(DEFAULT_DOCKER_SOCKET)) {
    const client = new DockerClient(found.endpoint, { reporter: ctx.reporter });
    try {
      await client.ping();
      return dockerEngine(client, ctx.reporter);
    } catch (e) {
      await client.close();
      tried.push(`${DEFAULT_DOCKER_SOCKET}: ${e instanceof FerryError ? e.message : String(e)}`);
    }
  } else {
    tried[tried.length - 1] = `${tried[tried.length - 1] ?? ''} (no such socket)`;
  }
  const p = await podman(ctx);
  if (typeof p !== 'string') return p;
  tried.push(`podman: ${p}`);
  throw unavailableError('ENGINE_NOT_FOUND', `no container engine found to run the image; tried:\n  ${tried.join('\n  ')}`, {
    details: { tried },
    suggestions: HOW_TO_GET_ONE,
  });
}

async function explicitDocker(env: NodeJS.ProcessEnv): Promise<boolean> {
  if ((env['DOCKER_HOST'] ?? '') !== '' || (env['DOCKER_CONTEXT'] ?? '') !== '') return true;
  const found = await discoverDockerEndpoint(env);
  return found.endpoint.source.startsWith('context ');
}

async function docker(ctx: RunContext): Promise<LocalEngine> {
  const found = await discoverDockerEndpoint(ctx.env);
  const client = new DockerClient(found.endpoint, { reporter: ctx.reporter });
  try {
    await client.ping();
  } catch (e) {
    await client.close();
    if (e instanceof FerryError && e.code === 'ENGINE_UNREACHABLE') {
      throw new FerryError(e.code, `${e.message}\n  looked at: ${found.tried.join('; ')}`, {
        exitCode: e.exitCode,
        cause: e,
        suggestions: [...e.suggestions, ...(found.endpoint.source === 'default socket' ? ['or use --engine podman'] : [])],
        ...(e.where === undefined ? {} : { where: e.where }),
        details: { ...e.details, tried: found.tried },
      });
    }
    throw e;
  }
  return dockerEngine(client, ctx.reporter);
}

/** The podman engine, or why not (a string). */
async function podman(ctx: RunContext): Promise<LocalEngine | string> {
  try {
    const r = await runProcess(PODMAN, ['version', '--format', '{{.Client.Version}}'], { env: ctx.env, timeoutMs: 30_000 });
    if (r.code !== 0) return `\`podman version\` failed: ${r.stderr.trim().split('\n').slice(-1).join('')}`;
    return podmanEngine(r.stdout.trim(), ctx.env, ctx.reporter);
  } catch (e) {
    if (e instanceof FerryError && e.code === 'PROCESS_NOT_FOUND') return 'not on PATH';
    throw e;
  }
}

