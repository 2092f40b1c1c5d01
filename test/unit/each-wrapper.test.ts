/**
 * The /bin/sh wrapper `deploy --each` runs in each Batch array child, run for real by the shells
 * images carry: dash (Debian's /bin/sh), busybox sh (Alpine, busybox images) and bash. Each child
 * must get its own value, intact, whatever it holds, and the command its arguments unchanged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eachWrapper } from '../../src/core/each-wrapper.js';
import { EACH_ARGV0, EACH_WRAPPER } from '../../src/targets/aws-batch/payload.js';

const SHELLS: [string, string[]][] = (
  [
    ['dash', ['/usr/bin/dash']],
    ['busybox sh', ['/usr/bin/busybox', 'sh']],
    ['bash', ['/usr/bin/bash']],
    ['/bin/sh', ['/bin/sh']],
  ] as [string, string[]][]
).filter(([, argv]) => existsSync(argv[0] ?? ''));

const NASTY = [
  'plain',
  'with  two spaces',
  "it's",
  'say "hi"',
  '$HOME',
  '${PATH}',
  '`id`',
  '$(id)',
  '*',
  '/*',
  '',
  '  lead and trail  ',
  'back\\slash\\n',
  'semi;colon && false || exit 3',
  'ünïcödé ✓',
  '-n',
  '-e',
  'a=b=c',
  '\ttab',
  '#not a comment',
  '"',
  "'",
  '\\',
  'x'.repeat(2000),
];

/** Prints what the exec'd command saw: its environment and its arguments. */
const PRINT = [
  process.execPath,
  '-e',
  'const e=process.env;process.stdout.write(JSON.stringify({key:e.DATE,value:e.FERRY_EACH_VALUE,index:e.FERRY_EACH_INDEX,leaked:Object.keys(e).filter((k)=>k.startsWith("__ferry_")),i:e.i,n:e.n,argv:process.argv.slice(1)}))',
  '--',
  'arg one',
  '$NOT_EXPANDED',
  '*',
];

function child(shell: string[], values: readonly string[], index: string | undefined, extraEnv: Record<string, string> = {}): ReturnType<typeof spawnSync> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    FERRY_EACH_KEY: 'DATE',
    FERRY_EACH_COUNT: String(values.length),
    FERRY_EACH_VALUES: values.join('\n'),
    ...(index === undefined ? {} : { AWS_BATCH_JOB_ARRAY_INDEX: index }),
    ...extraEnv,
  };
  return spawnSync(shell[0] ?? '', [...shell.slice(1), '-c', EACH_WRAPPER, EACH_ARGV0, ...PRINT], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); // stdin a socket makes bash read ~/.bashrc
}

describe.each(SHELLS)('the --each wrapper under %s', (_name, shell) => {
  it('gives every child its own value intact, as KEY and FERRY_EACH_VALUE, and passes the arguments unchanged', () => {
    for (const [i, want] of NASTY.entries()) {
      const r = child(shell, NASTY, String(i));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(String(r.stdout))).toEqual({ key: want, value: want, index: String(i), leaked: [], argv: ['arg one', '$NOT_EXPANDED', '*'] });
    }
  });

  it('a key with a short name (i, n) arrives, and an inherited variable of such a name survives', () => {
    const asKey = child(shell, ['a', 'b'], '1', { FERRY_EACH_KEY: 'i' });
    expect(JSON.parse(String(asKey.stdout))).toMatchObject({ i: 'b', value: 'b', leaked: [] });
    const inherited = child(shell, ['a', 'b'], '0', { n: 'keep me' });
    expect(JSON.parse(String(inherited.stdout))).toMatchObject({ n: 'keep me', key: 'a' });
  });

  it('finds the last of 3,000 values', () => {
    const values = Array.from({ length: 3000 }, (_, i) => `v${i}`);
    const r = child(shell, values, '2999');
    expect(JSON.parse(String(r.stdout))).toMatchObject({ key: 'v2999', index: '2999' });
  });

  it('takes index 0 without AWS_BATCH_JOB_ARRAY_INDEX, and refuses a bad or out-of-range index (exit 70)', () => {
    expect(JSON.parse(String(child(shell, ['a', 'b'], undefined).stdout))).toMatchObject({ key: 'a', index: '0' });
    for (const bad of ['2', '-1', 'x', '1 ', '']) {
      const r = child(shell, ['a', 'b'], bad);
      expect(r.status, `index ${JSON.stringify(bad)}`).toBe(bad === '' ? 0 : 70);
    }
  });

  it('never runs a value as code, even with a hostile key-free environment', () => {
    const r = child(shell, ['$(touch /tmp/ferry-each-pwned)', '`touch /tmp/ferry-each-pwned`'], '1', { IFS: '$' });
    expect(r.status).toBe(0);
    expect(existsSync('/tmp/ferry-each-pwned')).toBe(false);
  });
});

describe.each(SHELLS)('the Kubernetes Indexed Job wrapper under %s', (_name, shell) => {
  it('reads JOB_COMPLETION_INDEX, which Kubernetes sets in each pod, and only it', () => {
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', FERRY_EACH_KEY: 'DATE', FERRY_EACH_COUNT: '3', FERRY_EACH_VALUES: 'a b\n*\nlast', JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '2' };
    const r = spawnSync(shell[0] ?? '', [...shell.slice(1), '-c', eachWrapper('JOB_COMPLETION_INDEX'), EACH_ARGV0, ...PRINT], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ key: '*', value: '*', index: '1' });
    const bad = spawnSync(shell[0] ?? '', [...shell.slice(1), '-c', eachWrapper('JOB_COMPLETION_INDEX'), EACH_ARGV0, ...PRINT], { env: { ...env, JOB_COMPLETION_INDEX: '3' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(bad.status).toBe(70);
  });
});

it('has shells to test with', () => {
  expect(SHELLS.length).toBeGreaterThan(0);
});
