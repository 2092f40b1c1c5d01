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
    const { watchInterrupts } = await import('../infra/signals.js');
    const ctx = this.context();
    // Ctrl-C ends a --follow as `tail -f` ends: what was read is kept (--json still prints its one envelope), exit 130.
    const interrupts = watchInterrupts((m) => {
      ctx.reporter.info(m);
    });
    interrupts.containerPhase((sig) => `${sig}: stopping (${sig} again to exit at once)`);
    try {
      const r = await logsService({ id: flags.id, last: flags.last, follow: flags.follow, index: flags.index, out: this.jsonMode ? undefined : process.stdout }, { ...ctx, signal: interrupts.signal });
      const sig: unknown = interrupts.signal.reason;
      return interrupts.signal.aborted ? { ...r, interrupted: typeof sig === 'string' ? sig : 'SIGINT' } : r;
    } finally {
      interrupts.dispose();
    }
  }

  protected human(): string {
    return '';
  }

  protected override exitStatus(r: LogsResult): number {
    return r.interrupted === 'SIGTERM' ? 143 : r.interrupted !== undefined ? 130 : 0;
  }
}
