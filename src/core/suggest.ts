/**
 * "Did you mean" for typos in keys, flags, commands, instructions, stage names and platforms: the
 * closest candidate by Levenshtein distance, if it is close enough to be a plausible typo.
 * Inputs are short words, so the plain O(n·m) algorithm is fine.
 */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

export interface NearestOptions {
  /** Compare case as well (default: "Image" is a typo of "image"). */
  caseSensitive?: boolean;
  /** The largest distance still suggested (default: a third of the word, at least 2). */
  maxDistance?: number;
}

/** The closest candidate, or undefined when none is close enough or the word itself is one. */
export function nearest(word: string, candidates: readonly string[], opts: NearestOptions = {}): string | undefined {
  const norm = (s: string): string => (opts.caseSensitive === true ? s : s.toLowerCase());
  const w = norm(word);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    if (c === word) return undefined;
    const d = distance(w, norm(c));
    if (d < bestScore) {
      best = c;
      bestScore = d;
    }
  }
  const limit = opts.maxDistance ?? Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestScore <= limit ? best : undefined;
}
