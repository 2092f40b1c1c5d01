import { FerryCommand } from '../base-command.js';
import { runRefFlags } from '../flags.js';
import type { CancelResult } from '../services/runs.js';

export default class Cancel extends FerryCommand<CancelResult> {
  static override summary = 'Cancel a run that ferry deploy started (--id ID or --last).';
  static override description = 'AWS Batch: CancelJob while the job waits in the queue, TerminateJob once it is starting or running (an array job\'s children go with it). A run that has already ended is left alone (exit 0, action "none").';
  static override examples = ['<%= config.bin %> cancel --last', '<%= config.bin %> cancel --id 20261129-3f2a9c1b7d4e --json'];
  static override flags = { ...runRefFlags };

  protected async exec(): Promise<CancelResult> {
    const { flags } = await this.parse(Cancel);
    const { cancelService } = await import('../services/runs.js');
    return cancelService({ id: flags.id, last: flags.last }, this.context());
  }

  protected human(r: CancelResult): string {
    return r.action === 'none' ? `${r.handle.id} had already ended (${r.phase ?? r.before})` : `${r.handle.id} ${r.action}`;
  }
}
