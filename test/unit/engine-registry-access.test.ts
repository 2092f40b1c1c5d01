import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { engineAuthFile, userAuthFiles } from '../../src/builders/engine/auth-file.js';
import { endpointLocation, registriesConf } from '../../src/builders/engine/registries-conf.js';
import { externalImages, parseDockerfile, resolveBuildPlan } from '../../src/builders/native/dockerfile.js';
import { clearSecrets, redact } from '../../src/infra/redact.js';

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-unit-engine-access-'));
  clearSecrets();
});

describe('the auth file an engine build gets', () => {
  it('reads REGISTRY_AUTH_FILE alone when set, else the containers files then the docker config', () => {
    expect(userAuthFiles({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/u', HOME: '/h' })).toEqual(['/a.json']);
    expect(userAuthFiles({ XDG_RUNTIME_DIR: '/run/u', HOME: '/h' })).toEqual(['/run/u/containers/auth.json', '/h/.config/containers/auth.json', '/h/.docker/config.json']);
    expect(userAuthFiles({ HOME: '/h', XDG_CONFIG_HOME: '/x', DOCKER_CONFIG: '/d' })).toEqual(['/x/containers/auth.json', '/d/config.json']);
  });

  it("keeps the user's auths and credHelpers (the earlier file winning) and adds ferry's entries", async () => {
    await mkdir(path.join(dir, 'run', 'containers'), { recursive: true });
    await mkdir(path.join(dir, 'docker'));
    await writeFile(path.join(dir, 'run', 'containers', 'auth.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: b64('me:first') } } }));
    await writeFile(
      path.join(dir, 'docker', 'config.json'),
      JSON.stringify({ auths: { 'ghcr.io': { auth: b64('me:second') }, 'https://index.docker.io/v1/': { auth: b64('hub:pw') } }, credHelpers: { 'gcr.io': 'gcloud' }, credsStore: 'desktop' }),
    );
    const text = await engineAuthFile({
      entries: { [ECR]: { username: 'AWS', password: 'ecr-token-secret' }, '127.0.0.1:5000': { username: 'AWS', password: 'ecr-token-secret' } },
      env: { XDG_RUNTIME_DIR: path.join(dir, 'run'), XDG_CONFIG_HOME: path.join(dir, 'none'), DOCKER_CONFIG: path.join(dir, 'docker'), HOME: dir },
    });
    const json = JSON.parse(text) as { auths: Record<string, { auth: string }>; credHelpers?: Record<string, string> };
    expect(json.auths['ghcr.io']?.auth).toBe(b64('me:first'));
    expect(json.auths['https://index.docker.io/v1/']?.auth).toBe(b64('hub:pw'));
    expect(json.auths[ECR]?.auth).toBe(b64('AWS:ecr-token-secret'));
    expect(json.auths['127.0.0.1:5000']?.auth).toBe(b64('AWS:ecr-token-secret'));
    expect(json.credHelpers).toEqual({ 'gcr.io': 'gcloud' });
    // The encoded credential is registered for redaction.
    expect(redact(`x ${b64('AWS:ecr-token-secret')} y`)).toBe('x *** y');
  });

  it("replaces the user's helper and namespaced entries for a host ferry has credentials for", async () => {
    const file = path.join(dir, 'user.json');
    await writeFile(
      file,
      JSON.stringify({
        auths: { [`${ECR}/team`]: { auth: b64('AWS:old') }, [ECR]: { auth: b64('AWS:old') }, 'quay.io': { auth: b64('q:q') } },
        credHelpers: { [ECR]: 'ecr-login', 'quay.io': 'pass' },
      }),
    );
    const json = JSON.parse(await engineAuthFile({ entries: { [ECR]: { username: 'AWS', password: 'new-token' } }, env: { REGISTRY_AUTH_FILE: file } })) as {
      auths: Record<string, { auth: string }>;
      credHelpers?: Record<string, string>;
    };
    expect(Object.keys(json.auths).sort()).toEqual([ECR, 'quay.io']);
    expect(json.auths[ECR]?.auth).toBe(b64('AWS:new-token'));
    expect(json.credHelpers).toEqual({ 'quay.io': 'pass' });
  });

  it('works without any user file, and refuses one that is not JSON with REGISTRY_CONFIG_INVALID', async () => {
    const none = JSON.parse(await engineAuthFile({ entries: { [ECR]: { username: 'AWS', password: 'tok1' } }, env: { HOME: dir, XDG_CONFIG_HOME: dir } })) as unknown;
    expect(none).toEqual({ auths: { [ECR]: { auth: b64('AWS:tok1') } } });
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{nope');
    await expect(engineAuthFile({ entries: {}, env: { REGISTRY_AUTH_FILE: bad } })).rejects.toMatchObject({ code: 'REGISTRY_CONFIG_INVALID' });
  });
});

describe('registries.conf and registries.HOST.endpoint', () => {
  const env = (): NodeJS.ProcessEnv => ({ CONTAINERS_REGISTRIES_CONF: path.join(dir, 'user-registries.conf') });

  it('sends the host to the endpoint: insecure for http://, not for https:// unless the host is named insecure', async () => {
    await writeFile(path.join(dir, 'user-registries.conf'), 'unqualified-search-registries = ["quay.io"]\n');
    const conf = await registriesConf({
      insecure: ['proxy.local:8443'],
      endpoints: { [ECR]: 'http://127.0.0.1:5000/', 'ghcr.io': 'https://cache.example.com', 'quay.io': 'https://proxy.local:8443/' },
      env: env(),
    });
    expect(conf).toContain('unqualified-search-registries = ["quay.io"]');
    expect(conf).toContain(`[[registry]]\nprefix = "${ECR}"\nlocation = "127.0.0.1:5000"\ninsecure = true\n`);
    expect(conf).toContain('[[registry]]\nprefix = "ghcr.io"\nlocation = "cache.example.com"\n');
    expect(conf).not.toContain('location = "cache.example.com"\ninsecure');
    expect(conf).toContain('[[registry]]\nprefix = "quay.io"\nlocation = "proxy.local:8443"\ninsecure = true\n');
  });

  it('keeps mirrors in front of an endpoint, and writes nothing when there is nothing to add', async () => {
    const conf = await registriesConf({ mirrors: { [ECR]: 'mirror.local:5000/ecr' }, insecure: ['mirror.local:5000'], endpoints: { [ECR]: 'http://127.0.0.1:5000' }, env: env() });
    expect(conf).toContain(`[[registry]]\nprefix = "${ECR}"\nlocation = "127.0.0.1:5000"\ninsecure = true\n[[registry.mirror]]\nlocation = "mirror.local:5000/ecr"\ninsecure = true\n`);
    expect(conf?.match(new RegExp(`prefix = "${ECR.replaceAll('.', '\\.')}"`, 'g'))).toHaveLength(1);
    expect(await registriesConf({ insecure: [], endpoints: {}, env: env() })).toBeUndefined();
  });

  it('endpointLocation: host[:port], no scheme or trailing slash', () => {
    expect(endpointLocation('http://127.0.0.1:5000/')).toEqual({ location: '127.0.0.1:5000', host: '127.0.0.1:5000', plainHttp: true });
    expect(endpointLocation('https://r.example.com')).toEqual({ location: 'r.example.com', host: 'r.example.com', plainHttp: false });
  });
});

describe('the images a build pulls from', () => {
  const images = (text: string, target?: string): string[] =>
    externalImages(resolveBuildPlan(parseDockerfile(text, { file: 'Dockerfile' }), target !== undefined ? { target } : {})).map((i) => `${i.via}:${i.ref}`);

  it('FROM images, COPY --from images and RUN --mount from= images; stage names and scratch are not images', () => {
    const text = [
      `FROM ${ECR}/base:1 AS build`,
      'RUN --mount=type=bind,from=ghcr.io/org/tools:2,target=/t --mount=type=cache,target=/c make',
      'FROM scratch AS empty',
      'FROM build AS app',
      'COPY --from=quay.io/org/assets:3 /a /a',
      'COPY --from=build /out /out',
      'RUN --mount=from=build,target=/b true',
      'FROM alpine:3 AS unused',
      'COPY --from=unused.example/x:1 /x /x',
    ].join('\n');
    expect(images(text, 'app')).toEqual([`from:${ECR}/base:1`, 'mount:ghcr.io/org/tools:2', 'copy:quay.io/org/assets:3']);
  });

  it('a stage only a RUN --mount names is pulled too', () => {
    const text = ['FROM ghcr.io/org/tools:2 AS tools', `FROM ${ECR}/base:1`, 'RUN --mount=from=tools,target=/t true'].join('\n');
    expect(images(text)).toEqual(['from:ghcr.io/org/tools:2', `from:${ECR}/base:1`]);
  });
});

describe('the docker builder and ferry-held credentials', () => {
  it('sends them in X-Registry-Config, and warns that an endpoint cannot redirect the daemon', async () => {
    const { createServer } = await import('node:http');
    const { dockerEngine } = await import('../../src/builders/engine/docker.js');
    const tarStream = (await import('tar-stream')).default;
    const socket = path.join(dir, 'docker.sock');
    let registryConfig: string | undefined;
    const server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url.endsWith('/_ping')) return void res.end('OK');
      if (url.includes('/build')) {
        registryConfig = req.headers['x-registry-config'] as string | undefined;
        req.resume();
        req.on('end', () => res.end(`${JSON.stringify({ stream: 'Step 1/1 : FROM x\n' })}\n${JSON.stringify({ aux: { ID: `sha256:${'a'.repeat(64)}` } })}\n`));
        return;
      }
      if (url.includes('/get')) {
        const pack = tarStream.pack();
        pack.finalize();
        pack.pipe(res);
        return;
      }
      res.statusCode = 404;
      res.end('{"message":"no"}');
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const ctxDir = path.join(dir, 'ctx');
      await mkdir(ctxDir);
      await writeFile(path.join(ctxDir, 'Dockerfile'), `FROM ${ECR}/base:1\nRUN true\n`);
      const warnings: string[] = [];
      const reporter = { info: (): void => undefined, debug: (): void => undefined, warn: (m: string): void => void warnings.push(m) };
      await dockerEngine().build({
        dockerfile: path.join(ctxDir, 'Dockerfile'),
        dockerfileDisplay: 'Dockerfile',
        parsed: parseDockerfile(`FROM ${ECR}/base:1\nRUN true\n`, { file: 'Dockerfile' }),
        contextDir: ctxDir,
        platform: { os: 'linux', architecture: 'amd64' },
        buildArgs: {},
        noCache: false,
        labels: {},
        secrets: [],
        ssh: [],
        insecureRegistries: [],
        endpoints: { [ECR]: 'http://127.0.0.1:5000' },
        pullHosts: [ECR],
        registryAuth: { [ECR]: { username: 'AWS', password: 'tok-for-docker' } },
        reporter,
        env: { DOCKER_HOST: `unix://${socket}`, HOME: dir },
        exclude: [],
        workDir: path.join(dir, 'work'),
      });
      expect(JSON.parse(Buffer.from(registryConfig ?? '', 'base64url').toString('utf8'))).toEqual({ [ECR]: { username: 'AWS', password: 'tok-for-docker' } });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`registries.${ECR}.endpoint (http://127.0.0.1:5000) does not apply to the docker builder`);
    } finally {
      server.close();
    }
  });
});
