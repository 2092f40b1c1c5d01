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
    // Columns as wide as their longest entry (aws-lambda, "plan, deploy, invoke").
    const kindWidth = Math.max(4, ...r.kinds.map((k) => k.type.length));
    const canWidth = Math.max(3, ...r.kinds.map((k) => caps({ ...k.capabilities }).length));
    const lines = [
      `${'KIND'.padEnd(kindWidth)} ${'CAN'.padEnd(canWidth)} WHAT`,
      ...r.kinds.map((k) => `${k.type.padEnd(kindWidth)} ${caps({ ...k.capabilities }).padEnd(canWidth)} ${k.summary}`),
    ];
    if (r.configured !== null) {
      lines.push('', `targets in ${r.file ?? 'ferry.yaml'}:`);
      for (const t of r.configured) lines.push(`  ${t.name} (${t.type})${t.implicit ? ' (implicit: ferry.yaml has no targets)' : ''}`);
    }
    return lines.join('\n');
  }
}
