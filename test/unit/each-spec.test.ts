/**
 * `--each` / `--each-file` parsing: every bad input is a usage error (64) with its code and place,
 * before anything is built; good input gives the values exactly.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import { eachSpecFor, failedChildrenReport, type EachFlags } from '../../src/services/each.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-each-'));
  await writeFile(path.join(dir, 'lines.txt'), '# dates\n2024-01-01\n\n  2024-01-02  \r\nwith, comma $HOME "q"\n   # indented comment\n');
  await writeFile(path.join(dir, 'vals.json'), JSON.stringify(['', ' spaced ', 'a,b', 3, true]));
  await writeFile(path.join(dir, 'vals.yaml'), '- a\n- "b c"\n- 7\n');
  await writeFile(path.join(dir, 'empty.txt'), '# nothing\n\n');
  await writeFile(path.join(dir, 'obj.json'), '{"a": 1}');
  await writeFile(path.join(dir, 'nested.json'), '[["a"]]');
  await writeFile(path.join(dir, 'bad.json'), '[1,');
  await writeFile(path.join(dir, 'newline.json'), JSON.stringify(['ok', 'two\nlines']));
  await writeFile(path.join(dir, 'many.txt'), Array.from({ length: 10_001 }, (_, i) => String(i)).join('\n'));
});

const batch = { name: 'nightly', type: 'aws-batch' };
const spec = (flags: EachFlags, target = batch) => eachSpecFor(flags, target, { cwd: dir });

async function code(flags: EachFlags, target = batch): Promise<{ code: string; exitCode: number; where: string | undefined }> {
  let err: unknown;
  try {
    await spec(flags, target);
  } catch (e) {
    err = e;
  }
  if (!(err instanceof FerryError)) throw new Error(`no FerryError: ${String(err)}`);
  return { code: err.code, exitCode: err.exitCode, where: err.where };
}

describe('--each and --each-file', () => {
  it('are absent unless given', async () => {
    expect(await spec({})).toBeUndefined();
    expect(await spec({ each: [] })).toBeUndefined();
  });

  it('--each splits on commas and takes values literally', async () => {
    expect(await spec({ each: ['DATE=2024-01-01, 2024-01-02,$x'] })).toEqual({ key: 'DATE', values: ['2024-01-01', ' 2024-01-02', '$x'], source: '--each' });
    expect(await spec({ each: ['K=a=b'] })).toMatchObject({ values: ['a=b'] });
  });

  it('reads a lines file (trimmed, blank lines and # comments skipped), a JSON array, a YAML list', async () => {
    expect((await spec({ eachFile: ['D=lines.txt'] }))?.values).toEqual(['2024-01-01', '2024-01-02', 'with, comma $HOME "q"']);
    expect((await spec({ eachFile: ['D=vals.json'] }))?.values).toEqual(['', ' spaced ', 'a,b', '3', 'true']);
    expect((await spec({ eachFile: [`D=${path.join(dir, 'vals.yaml')}`] }))?.values).toEqual(['a', 'b c', '7']);
  });

  it('refuses every bad input with its code', async () => {
    expect(await code({ each: ['K=a'] }, { name: 'dev', type: 'local' })).toEqual({ code: 'USAGE_EACH_UNSUPPORTED', exitCode: 64, where: '--each' });
    expect((await code({ each: ['nokey'] })).code).toBe('USAGE_EACH_BAD_SPEC');
    expect((await code({ each: ['=a,b'] })).code).toBe('USAGE_EACH_BAD_SPEC');
    expect((await code({ eachFile: ['file.txt'] })).code).toBe('USAGE_EACH_BAD_SPEC');
    for (const k of ['1X', 'A-B', 'A B', 'AWS_BATCH_X', 'FERRY_EACH_VALUE']) expect((await code({ each: [`${k}=a`] })).code).toBe('USAGE_EACH_BAD_KEY');
    expect((await code({ each: ['K=a', 'K=b'] })).code).toBe('USAGE_EACH_DUPLICATE_KEY');
    expect((await code({ each: ['K=a'], eachFile: ['K=lines.txt'] })).code).toBe('USAGE_EACH_DUPLICATE_KEY');
    expect((await code({ each: ['K=a'], eachFile: ['J=lines.txt'] })).code).toBe('USAGE_EACH_MULTIPLE_KEYS');
    expect((await code({ each: ['K='] })).code).toBe('USAGE_EACH_EMPTY');
    expect(await code({ eachFile: ['K=empty.txt'] })).toMatchObject({ code: 'USAGE_EACH_EMPTY', where: 'empty.txt' });
    expect((await code({ each: ['K=a,,b'] })).code).toBe('USAGE_EACH_BAD_VALUE');
    expect((await code({ each: ['K=a,b,'] })).code).toBe('USAGE_EACH_BAD_VALUE');
    expect(await code({ eachFile: ['K=newline.json'] })).toMatchObject({ code: 'USAGE_EACH_BAD_VALUE', where: 'newline.json item 2' });
    expect(await code({ eachFile: ['K=missing.txt'] })).toMatchObject({ code: 'USAGE_EACH_FILE_NOT_FOUND', exitCode: 64 });
    for (const f of ['obj.json', 'nested.json', 'bad.json']) expect((await code({ eachFile: [`K=${f}`] })).code).toBe('USAGE_EACH_BAD_FILE');
    expect((await code({ eachFile: ['K=many.txt'] })).code).toBe('USAGE_EACH_TOO_MANY');
  });

  it('reports failed children with their values', () => {
    const lines = failedChildrenReport(
      { state: 'failed', children: { failed: 7, succeeded: 3 }, failedChildren: [{ index: 1, exitCode: 2, reason: 'boom' }, { index: 4 }] },
      { key: 'D', values: ['a', 'b c', 'x', 'y', 'z'], source: '--each' },
    );
    expect(lines).toEqual(['7 of 5 children failed; the first 2 ferry looked at:', '  child 1 (D="b c"): exit code 2: boom', '  child 4 (D="z"): no exit code']);
  });
});
