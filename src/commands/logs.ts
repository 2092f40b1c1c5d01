import { Flags } from '@oclif/core';
import { FerryCommand } from '../base-command.js';
import { runRefFlags } from '../flags.js';
import type { LogsResult } from '../services/runs.js';

export default class Logs extends FerryCommand<LogsResult> {
  static override summary = 'Print the logs of a run that ferry deploy started (--id ID or --last); --follow keeps printing until it ends.';
  static override description = 'AWS Batch: the job\'s CloudWatch Logs stream, every attempt in turn. Log lines go to stdout; with --json they are collected into result.lines instead.';
  static override examples = ['<%= config.bin %> logs --last', '<%= config.bin %> logs --id 20261129-3f2a9c1b7d4e --follow', '<%= config.bin %> logs --last --index 7'];
  static override flags = {
    ...runRefFlags,
    follow: Flags.boolean({ char: 'f', description: 'Keep printing new lines until the run ends.' }),
    index: Flags.integer({ description: 'For an array run (deploy --each): the child whose logs to print.', min: 0, helpValue: 'N' }),
  };

  protected async exec(): Promise<LogsResult> {
    const { flags } = await this.parse(Logs);
    const { logsService } = await import('../services/runs.js');
    return logsService({ id: flags.id, last: flags.last, follow: flags.follow, index: flags.index, out: this.jsonMode ? undefined : process.stdout }, this.context());
  }

  protected human(): string {
    return '';
  }
}
