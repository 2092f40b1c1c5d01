import { FerryCommand } from '../base-command.js';
import { configFlag } from '../flags.js';
import type { TargetsResult } from '../services/targets.js';

export default class Targets extends FerryCommand<TargetsResult> {
  static override summary = 'List the kinds of target ferry can deploy to, with what each can do, and the targets of ferry.yaml.';
  static override examples = ['<%= config.bin %> targets', '<%= config.bin %> targets --json'];
  static override flags = { ...configFlag };

  protected async exec(): Promise<TargetsResult> {
    const { flags } = await this.parse(Targets);
    const { targetsService } = await import('../services/targets.js');
    return targetsService({ configPath: flags.config }, this.context());
  }

  protected human(r: TargetsResult): string {
    const caps = (c: Record<string, boolean>): string => Object.entries(c).filter(([, v]) => v).map(([k]) => k).join(', ');
    const rows = r.kinds.map((k) => [k.type, caps({ ...k.capabilities }), k.summary] as const);
    const w0 = Math.max(4, ...rows.map((x) => x[0].length));
    const w1 = Math.max(3, ...rows.map((x) => x[1].length));
    const lines = [`${'KIND'.padEnd(w0)}  ${'CAN'.padEnd(w1)}  WHAT`, ...rows.map(([t, c, w]) => `${t.padEnd(w0)}  ${c.padEnd(w1)}  ${w}`)];
    if (r.configured !== null) {
      lines.push('', `targets in ${r.file ?? 'ferry.yaml'}:`);
      for (const t of r.configured) lines.push(`  ${t.name} (${t.type})${t.implicit ? ' (implicit: ferry.yaml has no targets)' : ''}`);
    }
    return lines.join('\n');
  }
}
