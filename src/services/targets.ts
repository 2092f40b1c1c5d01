import { access } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../core/context.js';
import type { TargetKindInfo } from '../core/target.js';
import { DEFAULT_CONFIG_FILE } from '../config/loader.js';
import { TARGET_KINDS } from '../targets/index.js';
import { loadAndCheckConfig } from './config.js';

export interface TargetsResult {
  kinds: TargetKindInfo[];
  /** The targets of ferry.yaml (with the implicit "local" when it has none); null without a ferry.yaml. */
  configured: { name: string; type: string; implicit: boolean }[] | null;
  file: string | null;
}

/** `ferry targets`: the kinds ferry can deploy to, and the targets ferry.yaml names. */
export async function targetsService(opts: { configPath?: string | undefined }, ctx: RunContext): Promise<TargetsResult> {
  const kinds = [...TARGET_KINDS];
  // Without --config, a missing ./ferry.yaml is fine here: the kinds are still worth listing.
  if (opts.configPath === undefined) {
    try {
      await access(path.join(ctx.cwd, DEFAULT_CONFIG_FILE));
    } catch {
      return { kinds, configured: null, file: null };
    }
  }
  const loaded = await loadAndCheckConfig({ configPath: opts.configPath }, ctx);
  const targets = Object.entries(loaded.config.targets ?? {});
  const configured =
    targets.length === 0 ? [{ name: 'local', type: 'local', implicit: true }] : targets.map(([name, t]) => ({ name, type: t.type, implicit: false }));
  return { kinds, configured, file: loaded.file };
}
