import { formatBytes, shortDigest } from './format.js';
import type { Reporter } from '../core/context.js';
import type { PushProgress } from '../registry/push.js';

/**
 * Push progress as plain lines on stderr: one when a blob is done, and for a large upload a line
 * at most every few seconds. Plain lines read well in CI logs (no TTY, CI=true) and in a terminal.
 */
export function pushProgressPrinter(reporter: Reporter, intervalMs = 5000, now: () => number = Date.now): (e: PushProgress) => void {
  const last = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'blob-start':
        last.set(e.digest, now());
        break;
      case 'blob-bytes': {
        const t = now();
        if (t - (last.get(e.digest) ?? 0) >= intervalMs && e.size > 0) {
          last.set(e.digest, t);
          reporter.info(`  ${shortDigest(e.digest)} ${formatBytes(e.bytes)} of ${formatBytes(e.size)} (${Math.floor((100 * e.bytes) / e.size)}%)`);
        }
        break;
      }
      case 'blob-done':
        last.delete(e.digest);
        reporter.info(`  ${shortDigest(e.digest)} ${formatBytes(e.size)}: ${e.outcome === 'skipped' ? 'already there' : e.outcome}`);
        break;
      case 'manifest':
        reporter.info(`  manifest ${shortDigest(e.digest)} written`);
        break;
      case 'tag':
        reporter.info(`  tagged ${e.tag}`);
        break;
    }
  };
}
