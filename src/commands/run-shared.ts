import type { RunContext } from '../core/context.js';
import { watchInterrupts } from '../infra/signals.js';
import { runService, type RunResult, type RunServiceOptions } from '../services/run.js';

/** run and deploy: the container's output to stdout (stderr under --json), Ctrl-C stops it. */
export async function runInterrupted(
  ctx: RunContext,
  json: boolean,
  opts: Omit<RunServiceOptions, 'stdout' | 'stderr' | 'onContainerPhase'>,
): Promise<RunResult> {
  const interrupts = watchInterrupts((m) => {
    ctx.reporter.info(m);
  });
  try {
    return await runService(
      { ...opts, stdout: json ? process.stderr : process.stdout, stderr: process.stderr, onContainerPhase: () => {
          interrupts.containerPhase();
        } },
      { ...ctx, signal: interrupts.signal },
    );
  } finally {
    interrupts.dispose();
  }
}
