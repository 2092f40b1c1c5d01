/**
 * `ferry plan [TARGET]`: what `ferry deploy` would send, with every value resolved (the job
 * section, the target, the flags) and the image pinned. It changes nothing anywhere: the image is
 * built into the local layout and cache (to know its digest) but not pushed, loaded or run, and
 * the engine is only asked whether it has the image.
 */
import type { RunContext } from '../core/context.js';
import { usageError } from '../core/errors.js';
import type { Plan, PlannedRequest } from '../core/target.js';
import { loadAndCheckConfig } from './config.js';
import { pickTarget, resolveSettings, type RunServiceOptions } from './run.js';

export type PlanOptions = Omit<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase' | 'command'> & {
  /** `--render DIR`: write the manifests instead (kinds with render). */
  render?: string | undefined;
};

/** What the container is called at deploy time: ferry-<target>-<8 random hex>. */
const NAME_PLACEHOLDER = (target: string): string => `ferry-${target}-XXXXXXXX`;

export type PlanResult = Plan & { engine?: string; engineAddress?: string };

export async function planService(opts: PlanOptions, ctx: RunContext): Promise<PlanResult> {
  const loaded = await loadAndCheckConfig({ configPath: opts.configPath, overrides: { platform: opts.platform, buildArgs: opts.buildArgs } }, ctx);
  const runOpts: RunServiceOptions = { ...opts, command: 'deploy', stdout: process.stderr, stderr: process.stderr };
  const picked = pickTarget(loaded, runOpts);
  const eachSpec = opts.each !== undefined || opts.eachFile !== undefined ? await (await import('./each.js')).eachSpecFor(opts, { name: picked.name, type: picked.target.type }, ctx) : undefined;
  if (picked.target.type !== 'local') {
    const { remotePlan } = await import('./remote.js');
    return remotePlan(loaded, picked.name, picked.target, { ...opts, eachSpec }, ctx);
  }
  if (opts.render !== undefined) refuseRender(picked.name);
  const settings = await resolveSettings(loaded, runOpts, ctx);
  const { chooseEngine } = await import('../targets/local/adapter.js');
  const engine = await chooseEngine(settings.engine, ctx);
  try {
    const { buildService } = await import('./build.js');
    const built = await buildService(opts, ctx);
    const imageId = built.config;
    const spec = { ...settings.spec, image: imageId, name: NAME_PLACEHOLDER(settings.target) };
    const requests: PlannedRequest[] = [];
    const notes: string[] = [];
    if (await engine.hasImage(imageId)) notes.push(`${engine.kind} has image ${imageId} already: nothing to load`);
    else requests.push({ service: engine.kind, action: 'load image', payload: { archive: `docker-archive of ${built.layout}`, imageId } });
    if (engine.kind === 'docker') {
      const { containerSpec } = await import('../targets/local/docker.js');
      requests.push({ service: 'docker', action: 'POST /containers/create', payload: { name: spec.name, body: containerSpec(spec) } });
      requests.push({ service: 'docker', action: 'POST /containers/{id}/start, then wait, logs, remove', payload: null });
    } else {
      const { podmanCreateArgs } = await import('../targets/local/podman.js');
      // The environment goes to podman in a 0600 file, not on its command line.
      requests.push({ service: 'podman', action: 'create', payload: { argv: ['podman', ...podmanCreateArgs(spec, '<env file>')], env: Object.fromEntries(spec.env) } });
      requests.push({ service: 'podman', action: 'start --attach, then wait and rm', payload: null });
    }
    if (settings.timeoutMs !== undefined) notes.push(`stopped after ${Math.round(settings.timeoutMs / 1000)} s (job.timeout)`);
    return {
      target: settings.target,
      type: 'local',
      image: { ref: built.image ?? imageId, digest: built.digest, configDigest: imageId, platform: built.platform },
      requests,
      notes,
      engine: engine.kind,
      engineAddress: engine.address,
    } satisfies PlanResult;
  } finally {
    await engine.close();
  }
}

/** --render on a local target: there is no manifest to write. */
export function refuseRender(target: string): never {
  throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--render writes manifests for GitOps; target ${target} is of type local, which has none`, {
    where: '--render',
    suggestions: ['drop --render, or name a target that has render in `ferry targets` (kubernetes-job)'],
  });
}
