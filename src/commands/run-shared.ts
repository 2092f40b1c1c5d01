import type { RunContext } from '../core/context.js';
import { watchInterrupts } from '../infra/signals.js';
import type { DeployOptions, DeployResult } from '../services/deploy.js';
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
  opts: Omit<DeployOptions, 'stdout' | 'stderr' | 'onContainerPhase'>,
): Promise<DeployResult> {
  const { deployService } = await import('../services/deploy.js');
  return interruptible(ctx, json, opts, deployService);
}

async function interruptible<R, O extends RunServiceOptions>(
  ctx: RunContext,
  json: boolean,
  opts: Omit<O, 'stdout' | 'stderr' | 'onContainerPhase'>,
  service: (o: O, c: RunContext) => Promise<R>,
): Promise<R> {
  const interrupts = watchInterrupts((m) => {
    ctx.reporter.info(m);
  });
  try {
    const io: Pick<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase'> = {
      stdout: json ? process.stderr : process.stdout,
      stderr: process.stderr,
      onContainerPhase: (message) => {
        interrupts.containerPhase(message);
      },
    };
    // O is opts plus exactly these three keys.
    return await service({ ...opts, ...io } as O, { ...ctx, signal: interrupts.signal });
  } finally {
    interrupts.dispose();
  }
}
