import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ImageRef,
  digestProblem,
  normalizeRegistryHost,
  parseImageRef,
  registryApiHost,
  tryParseImageRef,
} from '../../src/core/image-ref.js';
import { ExitCode, FerryError } from '../../src/core/errors.js';

interface ValidCase {
  input: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  familiar?: string;
  string?: string;
}
interface InvalidCase {
  input: string;
  problem: string;
}
const table = JSON.parse(readFileSync(new URL('../fixtures/refs/references.json', import.meta.url), 'utf8')) as {
  valid: ValidCase[];
  invalid: InvalidCase[];
};

function parseError(input: string): FerryError {
  let caught: unknown;
  try {
    parseImageRef(input);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FerryError);
  return caught as FerryError;
}

describe('image references: the distribution/reference corpus', () => {
  it.each(table.valid.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 60)}…` : c.input, c] as const))(
    'accepts %s',
    (_label, c) => {
      const ref = parseImageRef(c.input);
      expect(ref.registry).toBe(c.registry);
      expect(ref.repository).toBe(c.repository);
      expect(ref.tag).toBe(c.tag);
      expect(ref.digest).toBe(c.digest);
      if (c.familiar !== undefined) expect(ref.familiar()).toBe(c.familiar);
      if (c.string !== undefined) expect(ref.toString()).toBe(c.string);
      // the canonical form parses back to the same reference
      expect(parseImageRef(ref.toString()).toString()).toBe(ref.toString());
      // and so does the familiar form (unless it is a 64-hex name, which docker reads as an image ID)
      if (!/^[a-f0-9]{64}$/.test(ref.familiar())) expect(parseImageRef(ref.familiar()).toString()).toBe(ref.toString());
    },
  );

  it.each(table.invalid.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 60)}…` : c.input, c] as const))(
    'refuses %s',
    (_label, c) => {
      const err = parseError(c.input);
      expect(err.code).toBe('IMAGE_REF_INVALID');
      expect(err.exitCode).toBe(ExitCode.DATAERR);
      expect(err.details?.problem).toBe(c.problem);
      expect(err.suggestions.length).toBeGreaterThan(0);
    },
  );
});

describe('ImageRef', () => {
  it('normalises docker.io names and knows the API host', () => {
    const ref = ImageRef.parse('busybox');
    expect(ref.toString()).toBe('docker.io/library/busybox');
    expect(ref.apiHost).toBe('registry-1.docker.io');
    expect(ref.reference).toBe('latest');
    expect(ref.isDockerHub).toBe(true);
    expect(registryApiHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });

  it('withDigest pins and drops the tag; withTag drops the digest', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const ref = ImageRef.parse('ghcr.io/org/app:v1');
    const pinned = ref.withDigest(d);
    expect(pinned.toString()).toBe(`ghcr.io/org/app@${d}`);
    expect(pinned.reference).toBe(d);
    expect(pinned.withTag('v2').toString()).toBe('ghcr.io/org/app:v2');
    expect(ImageRef.parse('busybox:1').withDigest(d).familiar()).toBe(`busybox@${d}`);
  });

  it('withTag and withDigest validate their input', () => {
    const ref = ImageRef.parse('app');
    expect(() => ref.withTag('-bad')).toThrow(FerryError);
    expect(() => ref.withDigest('sha256:abc')).toThrow(FerryError);
    let caught: unknown;
    try {
      ref.withTag('-bad');
    } catch (e) {
      caught = e;
    }
    expect((caught as FerryError).details?.problem).toBe('tag');
  });

  it('keeps tag and digest together when both are given', () => {
    const d = `sha256:${'b'.repeat(64)}`;
    const ref = parseImageRef(`localhost:5000/a/b:t@${d}`);
    expect(ref.tag).toBe('t');
    expect(ref.digest).toBe(d);
    expect(ref.reference).toBe(d);
    expect(ref.name).toBe('localhost:5000/a/b');
  });

  it('tryParseImageRef answers undefined for bad input', () => {
    expect(tryParseImageRef('UPPER')).toBeUndefined();
    expect(tryParseImageRef('ok')?.repository).toBe('library/ok');
  });

  it('names where the bad reference came from', () => {
    let caught: unknown;
    try {
      parseImageRef('Bad', 'ferry.yaml:3:9 (image.name)');
    } catch (e) {
      caught = e;
    }
    expect((caught as FerryError).where).toBe('ferry.yaml:3:9 (image.name)');
  });

  it('serialises to its canonical string in JSON', () => {
    expect(JSON.stringify({ image: ImageRef.parse('busybox:1') })).toBe('{"image":"docker.io/library/busybox:1"}');
  });
});

describe('digests and registry hosts', () => {
  it('checks digests per algorithm', () => {
    expect(digestProblem(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(digestProblem(`sha512:${'0'.repeat(128)}`)).toBeUndefined();
    expect(digestProblem(`sha256:${'0'.repeat(63)}`)?.problem).toBe('digest-length');
    expect(digestProblem(`md5:${'0'.repeat(32)}`)?.problem).toBe('digest-unsupported');
    expect(digestProblem('sha256')?.problem).toBe('digest-format');
  });

  it('normalises config.json keys to registry names', () => {
    expect(normalizeRegistryHost('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeRegistryHost('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeRegistryHost('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(normalizeRegistryHost('ghcr.io')).toBe('ghcr.io');
  });
});
