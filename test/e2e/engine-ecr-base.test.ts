import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { envelope, ferry, type CliResult } from '../helpers/cli.js';
import { ecrPassword } from '../helpers/aws-batch.js';
import { makeBaseImage } from '../helpers/images.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { podmanEnv } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * Engine builds (podman, buildah) of a Dockerfile whose FROM is an Amazon ECR image. moto answers
 * GetAuthorizationToken; a real registry (htpasswd) accepting exactly moto's token stands in for
 * the ECR host through `registries.<ECR host>.endpoint`. ferry gives the engine the token in an
 * auth file of its own (kept with the user's REGISTRY_AUTH_FILE entries, which a second registry
 * needs) and the endpoint in a registries.conf. Every run is --debug and checked for the token.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;

let moto: Moto;
let ecrReg: TestRegistry;
let otherReg: TestRegistry;
/** otherReg's host once started, for the cleanup. */
let otherHost: string | undefined;
let work: string;
let password: string;
let token: string;
let baseEnv: Record<string, string>;
/** In every stage of every Dockerfile here: the images this file makes carry it, and only those. */
const RUN_LABEL = `ferry.test.engine-ecr=${String(process.pid)}-${Math.random().toString(36).slice(2, 8)}`;

interface BuildJson {
  digest: string;
  builder: string;
  config: string;
}

const env = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  ...baseEnv,
  ...moto.env,
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  // The user's own credentials, for the second registry only.
  REGISTRY_AUTH_FILE: path.join(work, 'user-auth.json'),
  DOCKER_HOST: `unix://${path.join(work, 'no-docker.sock')}`,
  BUILDAH_ISOLATION: 'chroot',
  ...extra,
});

async function project(dockerfile: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  // Every stage labels its images, so the cleanup finds exactly ours.
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile.replace(/^(FROM .*)$/gm, `$1\nLABEL ${RUN_LABEL}`));
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${otherReg.host}/team/app\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${ecrReg.url}\n  "${otherReg.host}": {insecure: true}\n`,
  );
  return dir;
}

async function build(dir: string, engine: string, extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  const r = await ferry(['build', '--json', '--debug', '--builder', engine], { cwd: dir, env: env(extraEnv), timeoutMs: 300_000 });
  for (const secret of [token, password]) {
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
  }
  return r;
}

/** Our images by ID (LABEL-filtered), and our base images by name (untagged: the same busybox may be another test's). */
async function removeOurImages(): Promise<void> {
  const ids = await runProcess('podman', ['images', '--all', '--quiet', '--no-trunc', '--filter', `label=${RUN_LABEL}`], { env: baseEnv });
  const list = ids.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (list.length > 0) await runProcess('podman', ['rmi', '--force', ...list], { env: baseEnv, timeoutMs: 120_000 });
  const names = [`${ECR_HOST}/base/busybox:1`, ...(otherHost === undefined ? [] : [`${otherHost}/other/busybox:2`])];
  for (const name of names) await runProcess('podman', ['rmi', name], { env: baseEnv, timeoutMs: 60_000 });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-engine-ecr-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  baseEnv = await podmanEnv();
  // A base left by an interrupted run of this file would spare the engine its pull.
  await removeOurImages();
  moto = await startMoto();
  password = await ecrPassword(moto.url);
  token = Buffer.from(`AWS:${password}`).toString('base64');
  [ecrReg, otherReg] = await Promise.all([startRegistry({ mode: 'htpasswd', extraUsers: { AWS: password } }), startRegistry({ mode: 'htpasswd' })]);
  otherHost = otherReg.host;
  await Promise.all([makeBaseImage(ecrReg, 'base/busybox', '1'), makeBaseImage(otherReg, 'other/busybox', '2')]);
  await writeFile(
    path.join(work, 'user-auth.json'),
    JSON.stringify({ auths: { [otherReg.host]: { auth: Buffer.from(`${otherReg.username}:${otherReg.password}`).toString('base64') } } }),
  );
}, 180_000);

// Other test files share podman's storage (and buildah's, the same one); never prune. After each
// test, so that every build pulls its bases again.
afterEach(removeOurImages);

afterAll(async () => {
  await removeOurImages();
  await Promise.all([ecrReg.stop(), otherReg.stop(), moto.stop()]);
});

describe.each(['podman', 'buildah'])('the %s builder and an ECR base image', (engine) => {
  it('pulls FROM <ECR host>/base/busybox:1 with the token ferry fetched, through registries.HOST.endpoint', async () => {
    const dir = await project(`FROM ${ECR_HOST}/base/busybox:1\nRUN echo hi > /x\n`);
    const r = await build(dir, engine);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(envelope<BuildJson>(r).result?.builder).toBe(engine);
    expect(r.stderr).toContain(`building with ${engine}`);
    // The engine pulled the base itself (not from its storage), with ferry's credentials.
    expect(r.stderr).toContain(`Trying to pull ${ECR_HOST}/base/busybox:1`);
    expect(r.stderr).toContain(`engine credentials for ${ECR_HOST}: Amazon ECR GetAuthorizationToken`);
  }, 300_000);

  it("keeps the user's own auth file entries: a stage from a registry only REGISTRY_AUTH_FILE knows", async () => {
    const dir = await project(
      `FROM ${otherReg.host}/other/busybox:2 AS other\nRUN echo other > /o\nFROM ${ECR_HOST}/base/busybox:1\nCOPY --from=other /o /o\nRUN test "$(cat /o)" = other && echo hi > /x\n`,
    );
    const r = await build(dir, engine);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(envelope<BuildJson>(r).result?.builder).toBe(engine);
  }, 300_000);
});

describe('without AWS credentials', () => {
  it('fails with ECR_CREDENTIALS_MISSING (78) before the engine starts', async () => {
    const dir = await project(`FROM ${ECR_HOST}/base/busybox:1\nRUN echo nocreds > /x\n`);
    const r = await build(dir, 'podman', { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined });
    expect(r.code, r.stderr + r.stdout).toBe(78);
    expect(envelope(r).error?.code).toBe('ECR_CREDENTIALS_MISSING');
    expect(r.stderr).not.toContain('building with podman');
  }, 120_000);
});
