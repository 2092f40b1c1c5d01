/**
 * `ferry deploy [TARGET]`: a local target runs through services/run.ts; any other kind goes to its
 * adapter through services/remote.ts (loaded only then, with its SDK).
 */
import type { RunContext } from '../core/context.js';
import { loadAndCheckConfig } from './config.js';
import type { RemoteDeployResult } from './remote.js';
import { pickTarget, runService, type RunResult, type RunServiceOptions } from './run.js';

export type DeployResult = RunResult | RemoteDeployResult;

export async function deployService(opts: RunServiceOptions, ctx: RunContext): Promise<DeployResult> {
  const loaded = await loadAndCheckConfig({ configPath: opts.configPath, overrides: { platform: opts.platform, buildArgs: opts.buildArgs } }, ctx);
  const picked = pickTarget(loaded, opts);
  if (picked.target.type === 'local') {
    (await import('./invoke.js')).refuseInvoke(opts, picked.name, 'local');
    return runService({ ...opts, loaded }, ctx);
  }
  const { remoteDeploy } = await import('./remote.js');
  return remoteDeploy(loaded, picked.name, picked.target, opts, ctx);
}
