import { FerryCommand } from '../base-command.js';
import { argsAfterDashDash, buildFlags, buildOptions, registryFlags, runFlags, runOptions } from '../flags.js';
import { usageError } from '../core/errors.js';
import type { RunResult } from '../services/run.js';

export const RUN_EXIT_HELP =
  "ferry exits with the container's exit code. ferry's own failures (before or around the run) exit 64-78 and print `Error [CODE]` on stderr, or `error` in the --json envelope; a run's result always has `exitCode`. Ctrl-C or SIGTERM stops and removes the container, then exits 130 or 143.";

export default class Run extends FerryCommand<RunResult> {
  static override summary = 'Build the image, then run it on this machine (docker or podman), pinned by its image ID.';
  static override description = `Arguments after -- replace the image's CMD (and job.args). The container's stdout and stderr stream to ferry's stdout and stderr; with --json, stdout carries only the envelope and the container's stdout goes to stderr. Settings come from the job section of ferry.yaml, then the target named "local" (if any), then these flags. The image is loaded into the engine only when the engine does not have its image ID already; the container is always removed afterwards.

${RUN_EXIT_HELP}`;
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run --config examples/hello-busybox/ferry.yaml -- data/trips.csv',
    '<%= config.bin %> run -e EXIT_CODE=3 -v ./out:/out --workdir /out --engine podman',
    '<%= config.bin %> run --json -- sh -c "echo hi"',
  ];
  static override strict = false;
  static override flags = { ...buildFlags, ...registryFlags, ...runFlags };

  protected async exec(): Promise<RunResult> {
    const { flags, argv } = await this.parse(Run);
    const after = argsAfterDashDash(this.argv);
    const before = after === undefined ? argv : argv.slice(0, argv.length - after.length);
    if (before.length > 0) {
      throw usageError('USAGE', `unexpected argument ${String(before[0])}`, { suggestions: ['put the container arguments after --: ferry run -- ARG…'] });
    }
    const { runInterrupted } = await import('./run-shared.js');
    return runInterrupted(this.context(), this.jsonMode, {
      ...buildOptions(flags),
      ...runOptions(flags),
      args: after,
      command: 'run',
    });
  }

  protected human(): string {
    return '';
  }

  protected override exitStatus(result: RunResult): number {
    return result.exitCode;
  }
}
