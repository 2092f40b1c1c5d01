/**
 * `ferry deploy [TARGET]`: a local target runs through services/run.ts; any other kind goes to its
 * adapter through services/remote.ts (loaded only then, with its SDK).
 */
import type { RunContext } from '../core/context.js';
import { usageError } from '../core/errors.js';
import { loadAndCheckConfig } from './config.js';
import type { RemoteDeployResult, RenderResult } from './remote.js';
import { pickTarget, runService, type RunResult, type RunServiceOptions } from './run.js';

export type DeployResult = RunResult | RemoteDeployResult | RenderResult;

export interface DeployOptions extends RunServiceOptions {
  /** `--async`: return once the run is submitted (remote targets). */
  async?: boolean | undefined;
  /** What Ctrl-C during the wait does to a remote run. */
  onInterrupt?: 'detach' | 'cancel' | undefined;
  /** `--render DIR`: push and write the manifests instead of applying them (kinds with render). */
  render?: string | undefined;
}

export async function deployService(opts: DeployOptions, ctx: RunContext): Promise<DeployResult> {
  const loaded = await loadAndCheckConfig({ configPath: opts.configPath, overrides: { platform: opts.platform, buildArgs: opts.buildArgs } }, ctx);
  const picked = pickTarget(loaded, opts);
  // --each is checked (target kind, values) before anything is built or created.
  const eachSpec = opts.each !== undefined || opts.eachFile !== undefined ? await (await import('./each.js')).eachSpecFor(opts, { name: picked.name, type: picked.target.type }, ctx) : undefined;
  if (picked.target.type === 'local') {
    (await import('./invoke.js')).refuseInvoke(opts, picked.name, 'local');
    if (opts.render !== undefined) (await import('./plan.js')).refuseRender(picked.name);
    // A local run belongs to this ferry process: Ctrl-C stops and removes its container.
    if (opts.async === true || opts.onInterrupt === 'detach') {
      const flag = opts.async === true ? '--async' : '--detach-on-interrupt';
      throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `${flag} needs a remote target; ${picked.name} is of type local, whose container ferry stops when it stops`, {
        where: flag,
        suggestions: [`drop ${flag}, or deploy to a remote target (\`ferry targets\` lists what each kind can do)`],
      });
    }
    return runService({ ...opts, loaded }, ctx);
  }
  const { remoteDeploy } = await import('./remote.js');
  return remoteDeploy(loaded, picked.name, picked.target, { ...opts, eachSpec }, ctx);
}
