import { FerryCommand } from '../base-command.js';
import { runRefFlags } from '../flags.js';
import type { StatusResult } from '../services/runs.js';

export default class Status extends FerryCommand<StatusResult> {
  static override summary = 'Show the state of a run that ferry deploy started (--id ID or --last).';
  static override description = 'Asks the platform (AWS Batch, …) for the run\'s state now: pending, running, succeeded, failed or cancelled, with the platform\'s own phase, the exit code and the reason it gives for a failure, and for an array run how many children are in each state. Exits 0 whenever it could tell; the state is in the output.';
  static override examples = ['<%= config.bin %> status --last', '<%= config.bin %> status --id 20261129-3f2a9c1b7d4e --json'];
  static override flags = { ...runRefFlags };

  protected async exec(): Promise<StatusResult> {
    const { flags } = await this.parse(Status);
    const { statusService } = await import('../services/runs.js');
    return statusService({ id: flags.id, last: flags.last }, this.context());
  }

  protected human(r: StatusResult): string {
    const h = r.handle;
    const lines = [`${h.id}  ${r.state}${r.phase !== undefined ? ` (${r.phase})` : ''}${r.exitCode !== undefined ? `  exit ${String(r.exitCode)}` : ''}`];
    if (r.reason !== undefined) lines.push(`  reason: ${r.reason}`);
    if (r.children !== undefined) lines.push(`  children: ${Object.entries(r.children).map(([k, n]) => `${String(n)} ${k}`).join(', ')}`);
    lines.push(`  target: ${h.target} (${h.type})`, `  image: ${h.image}`, `  started: ${h.createdAt}`);
    for (const [k, v] of Object.entries(h.ref)) lines.push(`  ${k}: ${v}`);
    return lines.join('\n');
  }
}
