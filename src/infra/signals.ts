/**
 * Ctrl-C (SIGINT) and SIGTERM for commands that run a container. Before the container exists there
 * is nothing to clean up, so ferry exits at once, with 130 or 143 as a shell would. Once it exists,
 * the first signal aborts `signal` (its reason is the signal's name) so the run stops and removes
 * the container, and ferry exits with 130/143 after that; a second signal exits at once.
 */
export interface Interrupts {
  signal: AbortSignal;
  /**
   * From now on a signal aborts `signal` instead of exiting; `message` says what happens then
   * (default: the container is stopped and removed).
   */
  containerPhase(message?: (signal: string) => string): void;
  dispose(): void;
}

const EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export function watchInterrupts(onMessage: (m: string) => void): Interrupts {
  const ac = new AbortController();
  let phase = false;
  let describe = (sig: string): string => `${sig}: stopping and removing the container (${sig} again to exit at once)`;
  const handler = (sig: NodeJS.Signals): void => {
    if (!phase || ac.signal.aborted) {
      if (phase) onMessage(`${sig} again: exiting without waiting for the container to be removed`);
      process.exit(EXIT[sig] ?? 130);
    }
    onMessage(describe(sig));
    ac.abort(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    containerPhase: (message) => {
      phase = true;
      if (message !== undefined) describe = message;
    },
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
