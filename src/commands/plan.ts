import { Args } from '@oclif/core';
import { stringify } from 'yaml';
import { FerryCommand } from '../base-command.js';
import { argsAfterDashDash, buildFlags, buildOptions, eachFlags, eachOptions, renderFlags, renderOptions, registryFlags, runFlags, runOptions } from '../flags.js';
import { usageError } from '../core/errors.js';
import type { PlanResult } from '../services/plan.js';

export default class PlanCommand extends FerryCommand<PlanResult> {
  static override summary = 'Print exactly what `ferry deploy` would send, with the image pinned; change nothing anywhere.';
  static override description =
    'Takes the same TARGET, flags and `-- ARG…` as deploy. The image is built into the local layout and cache to know its digest, but nothing is pushed, loaded, created or run; the engine or platform is only read.';
  static override examples = ['<%= config.bin %> plan', '<%= config.bin %> plan dev --json', '<%= config.bin %> plan -- data/other.csv'];
  static override strict = false;
  static override args = { target: Args.string({ description: 'A target name from ferry.yaml (default: the only one, or the implicit "local").' }) };
  static override flags = { ...buildFlags, ...registryFlags, ...runFlags, ...eachFlags, ...renderFlags };

  protected async exec(): Promise<PlanResult> {
    const { flags, argv } = await this.parse(PlanCommand);
    const after = argsAfterDashDash(this.argv) ?? [];
    const before = argv.slice(0, argv.length - after.length);
    if (before.length > 1) throw usageError('USAGE', `unexpected argument ${String(before[1])}`, { suggestions: ['ferry plan [TARGET] [-- ARG…]'] });
    const first: unknown = before[0];
    const { planService } = await import('../services/plan.js');
    return planService(
      { ...buildOptions(flags), ...runOptions(flags), ...eachOptions(flags), ...renderOptions(flags), args: argsAfterDashDash(this.argv), targetName: typeof first === 'string' ? first : undefined },
      this.context(),
    );
  }

  protected human(p: PlanResult): string {
    if (p.manifests !== undefined) return manifestsAsYaml(p);
    const lines = [`target ${p.target} (type ${p.type})${p.engine === undefined ? '' : ` on ${p.engine} (${p.engineAddress ?? ''})`}`, `image  ${p.image.ref}  (${p.image.platform}, manifest ${p.image.digest})`];
    for (const [i, r] of p.requests.entries()) {
      lines.push(`${i + 1}. ${r.service}: ${r.action}`);
      if (r.payload !== null) lines.push(...JSON.stringify(r.payload, null, 2).split('\n').map((l) => `   ${l}`));
    }
    for (const n of p.notes) lines.push(`note: ${n}`);
    return lines.join('\n');
  }
}

/** A plan that sends manifests (Kubernetes) prints them as YAML, with the rest as comments, so it can be read or piped. */
function manifestsAsYaml(p: PlanResult): string {
  const head = [`# target ${p.target} (type ${p.type})`, `# image ${p.image.ref} (${p.image.platform})`, ...p.requests.map((r, i) => `# ${String(i + 1)}. ${r.service}: ${r.action}`), ...p.notes.map((n) => `# note: ${n}`)];
  const docs = (p.manifests ?? []).map((m) => `---\n${stringify(m, { lineWidth: 0 }).trimEnd()}`);
  return [...head, ...docs].join('\n');
}
