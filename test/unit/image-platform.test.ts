import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PLATFORM,
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  matchPlatform,
  normalizePlatform,
  parsePlatform,
  samePlatform,
} from '../../src/image/platform.js';
import type { Descriptor, Platform } from '../../src/image/types.js';
import { thrown } from '../helpers/errors.js';

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['Linux/X86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['linux/arm64/v8.2', 'linux/arm64/v8.2'],
    ['linux/arm64/v9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/arm/5', 'linux/arm/v5'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['linux/386', 'linux/386'],
    ['linux/ppc64le', 'linux/ppc64le'],
    ['linux/s390x', 'linux/s390x'],
    ['linux/riscv64', 'linux/riscv64'],
    ['macos/arm64', 'darwin/arm64'],
    ['windows/amd64', 'windows/amd64'],
    [' linux/amd64 ', 'linux/amd64'],
    // A lone OS or arch is completed with ferry's default (linux/amd64), not the host's.
    ['linux', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
    ['aarch64', 'linux/arm64'],
  ])('%s → %s', (spec, want) => {
    expect(formatPlatform(parsePlatform(spec))).toBe(want);
  });

  it('keeps an OS version given in parentheses', () => {
    expect(parsePlatform('windows(10.0.17763)/amd64')).toEqual({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' });
  });

  it('uses given defaults for a lone os or arch', () => {
    expect(parsePlatform('linux', { defaults: { os: 'linux', architecture: 'arm64' } })).toEqual({ os: 'linux', architecture: 'arm64' });
  });

  it.each(['', '   ', 'linux/amd64/v1/x', 'linux/*', 'linux//amd64', 'linux/amd 64', 'linux/amd46', 'linxu/amd64', 'beos/amd64', 'foo', '/amd64', 'linux/arm64/v8!'])(
    '%j is IMAGE_BAD_PLATFORM',
    (spec) => {
      expect(thrown(() => parsePlatform(spec))).toMatchObject({ code: 'IMAGE_BAD_PLATFORM', exitCode: 65 });
    },
  );

  it('suggests the nearest name for a typo', () => {
    const err = thrown(() => parsePlatform('linux/amd46')) as { suggestions: string[] };
    expect(err.suggestions[0]).toContain('"amd64"');
  });

  it('takes the exit code and location from the caller', () => {
    expect(thrown(() => parsePlatform('nope/x', { kind: 'config', where: 'ferry.yaml:5:13' }))).toMatchObject({ code: 'IMAGE_BAD_PLATFORM', exitCode: 78, where: 'ferry.yaml:5:13' });
    expect(thrown(() => parsePlatform('nope/x', { kind: 'usage', where: '--platform' }))).toMatchObject({ exitCode: 64 });
  });
});

describe('normalizePlatform and friends', () => {
  it('normalises registry entries', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'windows', architecture: 'amd64', 'os.features': ['b', 'a', 'b'], 'os.version': '' })).toEqual({
      os: 'windows',
      architecture: 'amd64',
      'os.features': ['a', 'b'],
    });
    expect(samePlatform({ os: 'linux', architecture: 'aarch64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(samePlatform({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' })).toBe(false);
    expect(DEFAULT_PLATFORM).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  it('knows the host platform in OCI terms', () => {
    const h = hostPlatform();
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', riscv64: 'riscv64' };
    expect(h.architecture).toBe(expected[process.arch] ?? h.architecture);
    expect(h.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
  });

  it('lists compatible platforms, best first, never another architecture', () => {
    expect(compatiblePlatforms(parsePlatform('linux/arm/v7')).map(formatPlatform)).toEqual(['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    expect(compatiblePlatforms(parsePlatform('linux/amd64/v3')).map(formatPlatform)).toEqual(['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64']);
    expect(compatiblePlatforms(parsePlatform('linux/amd64')).map(formatPlatform)).toEqual(['linux/amd64']);
    expect(compatiblePlatforms(parsePlatform('linux/arm64')).map(formatPlatform)).toEqual(['linux/arm64']);
    expect(compatiblePlatforms(parsePlatform('linux/arm64/v8.2')).map(formatPlatform)).toEqual(['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64']);
    expect(compatiblePlatforms(parsePlatform('linux/arm64/v9.1')).map(formatPlatform)).toEqual([
      'linux/arm64/v9.1',
      'linux/arm64/v9',
      'linux/arm64/v8.6',
      'linux/arm64/v8.5',
      'linux/arm64/v8.4',
      'linux/arm64/v8.3',
      'linux/arm64/v8.2',
      'linux/arm64/v8.1',
      'linux/arm64',
    ]);
  });
});

describe('matchPlatform', () => {
  const d = (n: number, platform?: Platform): Descriptor => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    size: 1,
    ...(platform === undefined ? {} : { platform }),
  });
  const entries = [
    d(1, { os: 'linux', architecture: 'amd64' }),
    d(2, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    d(3, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    d(4, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    d(5, { os: 'unknown', architecture: 'unknown' }),
    d(6),
    d(7, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }),
    d(8, { os: 'linux', architecture: '386' }),
  ];

  it('picks the exact platform', () => {
    expect(matchPlatform(entries, parsePlatform('linux/amd64'))?.digest).toBe(entries[0]?.digest);
    expect(matchPlatform(entries, parsePlatform('linux/aarch64'))?.digest).toBe(entries[1]?.digest);
    expect(matchPlatform(entries, parsePlatform('linux/arm/v7'))?.digest).toBe(entries[3]?.digest);
    expect(matchPlatform(entries, parsePlatform('windows/amd64'))?.digest).toBe(entries[6]?.digest);
  });

  it('prefers the exact variant, then falls back to an older compatible one', () => {
    expect(matchPlatform([entries[2], entries[3]].filter((e) => e !== undefined), parsePlatform('linux/arm/v7'))?.digest).toBe(entries[3]?.digest);
    expect(matchPlatform([entries[2]].filter((e) => e !== undefined), parsePlatform('linux/arm/v7'))?.digest).toBe(entries[2]?.digest);
    expect(matchPlatform(entries, parsePlatform('linux/arm/v5'))).toBeUndefined();
  });

  it('does not use 386 for amd64, arm for arm64, or a newer amd64 level for the baseline', () => {
    const only386 = [d(8, { os: 'linux', architecture: '386' })];
    expect(matchPlatform(only386, parsePlatform('linux/amd64'))).toBeUndefined();
    const onlyArm = [d(4, { os: 'linux', architecture: 'arm', variant: 'v7' })];
    expect(matchPlatform(onlyArm, parsePlatform('linux/arm64'))).toBeUndefined();
    const v3 = [d(9, { os: 'linux', architecture: 'amd64', variant: 'v3' })];
    expect(matchPlatform(v3, parsePlatform('linux/amd64'))).toBeUndefined();
    expect(matchPlatform(v3, parsePlatform('linux/amd64/v4'))?.digest).toBe(v3[0]?.digest);
  });

  it('skips entries without a platform and attestations, and returns nothing when nothing fits', () => {
    expect(matchPlatform([d(5, { os: 'unknown', architecture: 'unknown' }), d(6)], parsePlatform('linux/amd64'))).toBeUndefined();
    expect(matchPlatform<Descriptor>([], parsePlatform('linux/amd64'))).toBeUndefined();
    expect(matchPlatform(entries, parsePlatform('linux/s390x'))).toBeUndefined();
  });

  it('takes the first of equal entries, and respects os.features', () => {
    const twins = [d(1, { os: 'linux', architecture: 'amd64' }), d(2, { os: 'linux', architecture: 'amd64' })];
    expect(matchPlatform(twins, parsePlatform('linux/amd64'))?.digest).toBe(twins[0]?.digest);
    const needsFeature = [d(3, { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] })];
    expect(matchPlatform(needsFeature, parsePlatform('windows/amd64'))).toBeUndefined();
    expect(matchPlatform(needsFeature, { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] })?.digest).toBe(needsFeature[0]?.digest);
  });
});
