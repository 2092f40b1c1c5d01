import type { RunContext } from '../core/context.js';
import { watchInterrupts } from '../infra/signals.js';
import type { DeployResult } from '../services/deploy.js';
import { runService, type RunResult, type RunServiceOptions } from '../services/run.js';

/** run and deploy: the container's output to stdout (stderr under --json), Ctrl-C stops it. */
export async function runInterrupted(
  ctx: RunContext,
  json: boolean,
  opts: Omit<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase'>,
): Promise<RunResult> {
  return interruptible(ctx, json, opts, runService);
}

/** deploy: the same, on whichever target ferry.yaml names. */
export async function deployInterrupted(
  ctx: RunContext,
  json: boolean,
  opts: Omit<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase'>,
): Promise<DeployResult> {
  const { deployService } = await import('../services/deploy.js');
  return interruptible(ctx, json, opts, deployService);
}

async function interruptible<R>(
  ctx: RunContext,
  json: boolean,
  opts: Omit<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase'>,
  service: (o: RunServiceOptions, c: RunContext) => Promise<R>,
): Promise<R> {
  const interrupts = watchInterrupts((m) => {
    ctx.reporter.info(m);
  });
  try {
    return await service(
      { ...opts, stdout: json ? process.stderr : process.stdout, stderr: process.stderr, onContainerPhase: () => {
          interrupts.containerPhase();
        } },
      { ...ctx, signal: interrupts.signal },
    );
  } finally {
    interrupts.dispose();
  }
}
