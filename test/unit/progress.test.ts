import { describe, expect, it } from 'vitest';
import { collectingReporter } from '../../src/core/context.js';
import { pushProgressPrinter } from '../../src/ui/progress.js';

describe('push progress', () => {
  it('prints a blob when done and large uploads at most once per interval', () => {
    const r = collectingReporter();
    let t = 0;
    const p = pushProgressPrinter(r, 5000, () => t);
    const digest = 'sha256:' + 'ab'.repeat(32);
    p({ type: 'blob-start', digest, size: 100 * 1024 * 1024, role: 'layer' });
    for (let i = 1; i <= 100; i++) {
      t += 200; // 20 s in all
      p({ type: 'blob-bytes', digest, bytes: i * 1024 * 1024, size: 100 * 1024 * 1024 });
    }
    p({ type: 'blob-done', digest, size: 100 * 1024 * 1024, outcome: 'uploaded' });
    p({ type: 'blob-done', digest: 'sha256:' + 'cd'.repeat(32), size: 10, outcome: 'skipped' });
    expect(r.infos.filter((l) => l.includes('%'))).toHaveLength(4);
    expect(r.infos).toContain('  abababababab 100 MiB: uploaded');
    expect(r.infos.at(-1)).toBe('  cdcdcdcdcdcd 10 B: already there');
  });
});
