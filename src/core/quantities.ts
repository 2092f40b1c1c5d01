/**
 * The value formats of ferry.yaml's `job` section, chosen so one spelling means the same on every
 * target: durations as Go and Kubernetes write them ("90s", "30m", "1h30m"), memory with an explicit
 * binary unit, CPUs as Kubernetes writes them (0.5, "2", "500m"). No I/O here.
 */

const DURATION_RE = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** "1h30m" → 5 400 000 ms. undefined when it is not a duration (or is zero). */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (m === null || text.trim() === '') return undefined;
  const [, h, min, s, ms] = m;
  const total = Number(h ?? 0) * 3_600_000 + Number(min ?? 0) * 60_000 + Number(s ?? 0) * 1000 + Number(ms ?? 0);
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

export const DURATION_HELP = 'a duration such as "90s", "30m" or "1h30m" (h, m, s, ms)';

/**
 * Memory in bytes. Binary units, in Kubernetes' spelling (Ki, Mi, Gi, Ti) or docker's (k, m, g, t,
 * with an optional b): "512Mi" = "512m" = 536 870 912. The bare upper-case K, M, G, T are refused:
 * they are decimal in Kubernetes and binary in docker, so "2G" would mean two different sizes on two
 * targets. A plain number is bytes.
 */
export function parseMemory(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text > 0 ? text : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|[kmgt]b?|b)?$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').replace(/b$/, '').toLowerCase().replace(/i$/, '');
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[unit];
  if (power === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * 1024 ** power);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

export const MEMORY_HELP = 'memory with a binary unit, such as "512Mi", "2Gi" (or docker\'s "512m", "2g"); K/M/G/T alone are ambiguous';

/** CPUs as a number: 0.5, "2", "1.5", or Kubernetes' millicores "500m". */
export function parseCpu(value: string | number): number | undefined {
  let n: number;
  if (typeof value === 'number') n = value;
  else {
    const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(value.trim());
    if (m === null) return undefined;
    n = m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
  }
  return Number.isFinite(n) && n > 0 && n <= 1024 ? n : undefined;
}

export const CPU_HELP = 'CPUs as a number (0.5, 2) or millicores ("500m")';
