/**
 * Ctrl-C (SIGINT) and SIGTERM for commands that run a container. Before the container exists there
 * is nothing to clean up, so ferry exits at once, with 130 or 143 as a shell would. Once it exists,
 * the first signal aborts `signal` (its reason is the signal's name) so the run stops and removes
 * the container, and ferry exits with 130/143 after that; a second signal exits at once.
 */
export interface Interrupts {
  signal: AbortSignal;
  /** From now on a signal stops the container instead of exiting. */
  containerPhase(): void;
  dispose(): void;
}

const EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export function watchInterrupts(onMessage: (m: string) => void): Interrupts {
  const ac = new AbortController();
  let phase = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (!phase || ac.signal.aborted) {
      if (phase) onMessage(`${sig} again: exiting without waiting for the container to be removed`);
      process.exit(EXIT[sig] ?? 130);
    }
    onMessage(`${sig}: stopping and removing the container (${sig} again to exit at once)`);
    ac.abort(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    containerPhase: () => {
      phase = true;
    },
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
