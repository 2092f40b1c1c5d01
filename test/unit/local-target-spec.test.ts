import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import { parseCpu, parseDuration, parseMemory } from '../../src/core/quantities.js';
import { bindString, parseEnvFile, parseEnvItem, parsePublish, parseVolume, publishString, type Origin } from '../../src/targets/local/spec.js';
import { envFileText, podmanCreateArgs } from '../../src/targets/local/podman.js';
import { containerSpec } from '../../src/targets/local/docker.js';
import { thrown } from '../helpers/errors.js';

const flag: Origin = { kind: 'flag', where: '--volume' };
const cfg: Origin = { kind: 'config', where: 'ferry.yaml (targets.dev.volumes.0)' };

function failure(fn: () => unknown): FerryError {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(FerryError);
  return e as FerryError;
}

describe('volumes (-v SRC:DST[:OPTS])', () => {
  it('resolves relative sources against the base folder and keeps named volumes', () => {
    expect(parseVolume('./data:/data', '/work/p', flag)).toEqual({ source: '/work/p/data', named: false, target: '/data', readOnly: false, options: [] });
    expect(parseVolume('data/in:/in:ro', '/work/p', flag)).toMatchObject({ source: '/work/p/data/in', readOnly: true });
    expect(parseVolume('../x:/x:rw,Z', '/work/p', flag)).toMatchObject({ source: '/work/x', readOnly: false, options: ['Z'] });
    expect(parseVolume('/abs:/abs/', '/work/p', flag)).toMatchObject({ source: '/abs', target: '/abs/' });
    expect(parseVolume('~/cache:/c', '/work/p', flag, '/home/me')).toMatchObject({ source: '/home/me/cache' });
    expect(parseVolume('pgdata:/var/lib/pg', '/work/p', flag)).toMatchObject({ source: 'pgdata', named: true });
    expect(bindString(parseVolume('./d:/d:ro,z', '/w', flag))).toBe('/w/d:/d:ro,z');
  });

  it('refuses malformed specs: 64 from a flag, 78 from ferry.yaml', () => {
    for (const bad of ['data', ':/x', 'a:relative', 'a:/x:rx', 'a:/b:ro:extra', 'bad name!:/x']) {
      const e = failure(() => parseVolume(bad, '/w', flag));
      expect([e.code, e.exitCode, e.where], bad).toEqual(['USAGE_BAD_VOLUME', 64, '--volume']);
    }
    const e = failure(() => parseVolume('x', '/w', cfg));
    expect([e.code, e.exitCode]).toEqual(['CONFIG_INVALID', 78]);
  });
});

describe('ports (-p [IP:][HOST:]CONTAINER[/PROTO])', () => {
  it('parses the docker forms', () => {
    expect(parsePublish('80', flag)).toEqual({ containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('8080:80', flag)).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:8080:80/udp', flag)).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' });
    expect(parsePublish('127.0.0.1::80', flag)).toEqual({ hostIp: '127.0.0.1', containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('[::1]:8080:80', flag)).toEqual({ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(publishString(parsePublish('127.0.0.1:8080:80/udp', flag))).toBe('127.0.0.1:8080:80/udp');
    expect(publishString(parsePublish('8080:80', flag))).toBe('8080:80/tcp');
    expect(publishString(parsePublish('80', flag))).toBe('80/tcp');
    expect(publishString(parsePublish('[::1]:8080:80', flag))).toBe('[::1]:8080:80/tcp');
  });

  it('refuses bad ports and protocols', () => {
    for (const bad of ['0', '65536', 'http', '80/icmp', 'host:8080:80', '1:2:3:4', '']) {
      expect(failure(() => parsePublish(bad, flag)).code, bad).toBe('USAGE_BAD_PUBLISH');
    }
  });
});

describe('environment (-e and --env-file)', () => {
  const env = { FROM_FERRY: 'ferry-value' };

  it('-e KEY=VALUE, and KEY alone passes on ferry\'s value or nothing', () => {
    expect(parseEnvItem('A=b=c', env, flag)).toEqual(['A', 'b=c']);
    expect(parseEnvItem('A=', env, flag)).toEqual(['A', '']);
    expect(parseEnvItem('FROM_FERRY', env, flag)).toEqual(['FROM_FERRY', 'ferry-value']);
    expect(parseEnvItem('UNSET', env, flag)).toBeUndefined();
    expect(failure(() => parseEnvItem('=x', env, flag)).code).toBe('USAGE_BAD_ENV');
    expect(failure(() => parseEnvItem('A B=x', env, flag)).code).toBe('USAGE_BAD_ENV');
  });

  it("reads docker's env-file format literally", () => {
    const text = '\uFEFF# a comment\n\nA=1\n  B= spaced value  \nC="quoted"\nD=$HOME\nFROM_FERRY\nUNSET\nE=x=y\r\n\t# indented comment\n';
    expect(parseEnvFile(text, 'x.env', env, flag)).toEqual([
      ['A', '1'],
      // everything after "=" is the value, white space and quotes included; the line's leading white space goes
      ['B', ' spaced value  '],
      ['C', '"quoted"'],
      ['D', '$HOME'],
      ['FROM_FERRY', 'ferry-value'],
      ['E', 'x=y'],
    ]);
  });

  it('names file:line for a bad line, with the exit code of its origin', () => {
    const e = failure(() => parseEnvFile('A=1\nBAD NAME=2\n', 'x.env', env, flag));
    expect([e.code, e.exitCode, e.where]).toEqual(['ENV_FILE_INVALID', 64, 'x.env:2']);
    const e2 = failure(() => parseEnvFile('=nameless\n', 'x.env', env, cfg));
    expect([e2.code, e2.exitCode, e2.where]).toEqual(['ENV_FILE_INVALID', 78, 'x.env:1']);
  });
});

describe('job values', () => {
  it('durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h2m3s4ms')).toBe(3_723_004);
    expect(parseDuration('250ms')).toBe(250);
    for (const bad of ['', '0s', '10', '1d', 'soon', '1m1h', '-5s']) expect(parseDuration(bad), bad).toBeUndefined();
  });

  it('memory: binary units only', () => {
    expect(parseMemory('512Mi')).toBe(512 * 2 ** 20);
    expect(parseMemory('512m')).toBe(512 * 2 ** 20);
    expect(parseMemory('2g')).toBe(2 * 2 ** 30);
    expect(parseMemory('2Gi')).toBe(2 * 2 ** 30);
    expect(parseMemory('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseMemory('100kb')).toBe(102_400);
    expect(parseMemory(1048576)).toBe(1048576);
    for (const bad of ['2G', '512M', '1K', 'lots', '0', '-1Mi', '1 MiB']) expect(parseMemory(bad), bad).toBeUndefined();
  });

  it('cpus', () => {
    expect(parseCpu(0.5)).toBe(0.5);
    expect(parseCpu('2')).toBe(2);
    expect(parseCpu('500m')).toBe(0.5);
    for (const bad of [0, -1, '0', 'two', '1.5.1']) expect(parseCpu(bad), String(bad)).toBeUndefined();
  });
});

describe('what the engines are asked', () => {
  const spec = {
    image: 'sha256:' + 'a'.repeat(64),
    name: 'ferry-dev-1234',
    command: ['/bin/sh', '-c'],
    args: ['echo hi'],
    env: [['A', '1']] as [string, string][],
    volumes: [parseVolume('/data:/data:ro', '/', flag)],
    ports: [parsePublish('8080:80', flag)],
    network: 'none',
    workdir: '/w',
    user: '1000:1000',
    memoryBytes: 64 * 2 ** 20,
    cpus: 0.5,
    labels: { 'dev.ferry.target': 'dev' },
  };

  it('podman create', () => {
    expect(podmanCreateArgs(spec)).toEqual([
      'create', '--name', 'ferry-dev-1234', '--pull=never',
      '--label', 'dev.ferry.target=dev',
      '--env', 'A=1',
      '--volume', '/data:/data:ro',
      '--publish', '8080:80/tcp',
      '--network', 'none',
      '--workdir', '/w',
      '--user', '1000:1000',
      '--memory', `${64 * 2 ** 20}b`,
      '--cpus', '0.5',
      '--entrypoint', '["/bin/sh","-c"]',
      spec.image, 'echo hi',
    ]);
    expect(podmanCreateArgs({ ...spec, command: [] })).toContain('');
    // with an env file, values stay off the command line (the process list), except multi-line ones
    const withFile = podmanCreateArgs({ ...spec, env: [['SECRET', 's3cr3t'], ['LINES', 'a\nb']] }, '/tmp/x/env');
    expect(withFile.join(' ')).not.toContain('s3cr3t');
    expect(withFile).toEqual(expect.arrayContaining(['--env-file', '/tmp/x/env', '--env', 'LINES=a\nb']));
    expect(envFileText([['SECRET', ' s3cr3t "q" '], ['LINES', 'a\nb']])).toBe('SECRET= s3cr3t "q" \n');
  });

  it('the Engine API container body', () => {
    expect(containerSpec(spec)).toMatchObject({
      Image: spec.image,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo hi'],
      Env: ['A=1'],
      WorkingDir: '/w',
      User: '1000:1000',
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { AutoRemove: false, Binds: ['/data:/data:ro'], PortBindings: { '80/tcp': [{ HostPort: '8080' }] }, NetworkMode: 'none', Memory: 64 * 2 ** 20, NanoCpus: 500_000_000 },
    });
    expect(containerSpec({ ...spec, command: [] }).Entrypoint).toEqual(['']);
    expect(containerSpec({ image: spec.image, name: 'n', env: [], volumes: [], ports: [], labels: {} })).not.toHaveProperty('Entrypoint');
  });
});
