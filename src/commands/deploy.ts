import { Args } from '@oclif/core';
import { FerryCommand } from '../base-command.js';
import { argsAfterDashDash, buildFlags, buildOptions, eachFlags, eachOptions, renderFlags, renderOptions, invokeFlags, invokeOptions, registryFlags, runFlags, runOptions, waitFlags, waitOptions } from '../flags.js';
import { usageError } from '../core/errors.js';
import type { DeployResult } from '../services/deploy.js';
import { RUN_EXIT_HELP } from './run.js';

export default class Deploy extends FerryCommand<DeployResult> {
  static override summary = 'Build the image (and push it, for targets that pull from a registry) and run it on a target from ferry.yaml, waiting for the end of the run.';
  static override description = `TARGET names an entry of targets: in ferry.yaml. Without TARGET: the only target, or, when ferry.yaml has no targets, the implicit target "local" (type: local, engine auto). The run takes the job section (command, args, env, resources, timeout) and the target's settings; the flags win over both. Arguments after -- replace the image's CMD.

${RUN_EXIT_HELP}`;
  static override examples = [
    '<%= config.bin %> deploy',
    '<%= config.bin %> deploy dev',
    '<%= config.bin %> deploy dev --json -- --date 2024-01-01',
    '<%= config.bin %> deploy nightly --async',
    '<%= config.bin %> deploy nightly --each DATE=2024-01-01,2024-01-02',
    '<%= config.bin %> deploy fn --invoke --payload event.json',
  ];
  static override strict = false;
  static override args = { target: Args.string({ description: 'A target name from ferry.yaml (default: the only one, or the implicit "local").' }) };
  static override flags = { ...buildFlags, ...registryFlags, ...runFlags, ...waitFlags, ...eachFlags, ...invokeFlags, ...renderFlags };

  protected async exec(): Promise<DeployResult> {
    const { flags, argv } = await this.parse(Deploy);
    const after = argsAfterDashDash(this.argv) ?? [];
    const before = argv.slice(0, argv.length - after.length);
    if (before.length > 1) {
      throw usageError('USAGE', `unexpected argument ${String(before[1])}`, { suggestions: ['ferry deploy [TARGET] [-- ARG…]'] });
    }
    const first: unknown = before[0];
    const target = typeof first === 'string' ? first : undefined;
    const { deployInterrupted } = await import('./run-shared.js');
    return deployInterrupted(this.context(), this.jsonMode, {
      ...buildOptions(flags),
      ...runOptions(flags),
      ...waitOptions(flags),
      ...eachOptions(flags),
      ...invokeOptions(flags),
      ...renderOptions(flags),
      args: argsAfterDashDash(this.argv),
      targetName: target,
      command: 'deploy',
    });
  }

  protected human(): string {
    return '';
  }

  protected override exitStatus(result: DeployResult): number {
    return result.exitCode;
  }
}
