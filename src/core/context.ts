/** What every service receives: where to report, the environment, and how to stop. */
export interface Reporter {
  /** A progress line for a person (stderr). */
  info(message: string): void;
  /** A warning: printed to stderr, and collected into the --json envelope. */
  warn(message: string): void;
  /** Only shown with --debug. Still redacted. */
  debug(message: string): void;
}

export interface RunContext {
  reporter: Reporter;
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal?: AbortSignal;
}

export const silentReporter: Reporter = {
  info: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
};

export function collectingReporter(): Reporter & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return {
    warnings,
    infos,
    info: (m) => infos.push(m),
    warn: (m) => warnings.push(m),
    debug: () => undefined,
  };
}
