/**
 * Cluster access as kubectl finds it (src/targets/kubernetes-job/client.ts loadCluster): only
 * files are read here, no request is made.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import { loadCluster } from '../../src/targets/kubernetes-job/client.js';

let dir: string;
const where = { file: 'ferry.yaml', target: 'etl' };

function kubeconfig(contexts: { name: string; server: string; namespace?: string }[], current: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: contexts.map((c) => ({ name: c.name, cluster: { server: c.server } })),
    users: contexts.map((c) => ({ name: c.name, user: { token: `token-${c.name}` } })),
    contexts: contexts.map((c) => ({ name: c.name, context: { cluster: c.name, user: c.name, ...(c.namespace !== undefined ? { namespace: c.namespace } : {}) } })),
    'current-context': current,
  });
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof FerryError ? e.code : 'not a FerryError';
  }
  return undefined;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-kubeconfig-'));
  await writeFile(path.join(dir, 'a'), kubeconfig([{ name: 'dev', server: 'https://dev.example:6443', namespace: 'team' }, { name: 'prod', server: 'https://prod.example:6443' }], 'dev'));
  await writeFile(path.join(dir, 'b'), kubeconfig([{ name: 'dev', server: 'https://other.example:6443' }, { name: 'lab', server: 'https://lab.example:6443', namespace: 'lab' }], 'lab'));
  await writeFile(path.join(dir, 'broken'), 'clusters: [');
});

describe('loadCluster', () => {
  it('takes the current context and its namespace; context: picks another; namespace: wins', () => {
    const env = { KUBECONFIG: path.join(dir, 'a'), HOME: dir };
    expect(loadCluster({}, where, env, dir)).toMatchObject({ context: 'dev', namespace: 'team', server: 'https://dev.example:6443' });
    expect(loadCluster({ context: 'prod' }, where, env, dir)).toMatchObject({ context: 'prod', namespace: 'default', server: 'https://prod.example:6443' });
    expect(loadCluster({ context: 'prod', namespace: 'etl' }, where, env, dir)).toMatchObject({ namespace: 'etl' });
  });

  it('merges a $KUBECONFIG list as kubectl does: the first file wins a name, and its current-context is used', () => {
    const env = { KUBECONFIG: [path.join(dir, 'a'), path.join(dir, 'missing'), path.join(dir, 'b')].join(path.delimiter), HOME: dir };
    expect(loadCluster({}, where, env, dir)).toMatchObject({ context: 'dev', server: 'https://dev.example:6443' });
    expect(loadCluster({ context: 'lab' }, where, env, dir)).toMatchObject({ context: 'lab', namespace: 'lab' });
  });

  it('the kubeconfig: key is relative to ferry.yaml and wins over $KUBECONFIG', () => {
    expect(loadCluster({ kubeconfig: 'b' }, where, { KUBECONFIG: path.join(dir, 'a') }, dir)).toMatchObject({ context: 'lab' });
  });

  it('falls back to ~/.kube/config', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
    await writeFile(path.join(home, 'x'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(home, '.kube'));
    await writeFile(path.join(home, '.kube', 'config'), kubeconfig([{ name: 'home', server: 'https://home.example' }], 'home'));
    expect(loadCluster({}, where, { HOME: home }, dir)).toMatchObject({ context: 'home', source: path.join(home, '.kube', 'config') });
  });

  it('refuses what kubectl would: an unknown context (naming the ones there are), missing and broken files, no kubeconfig at all', () => {
    const env = { KUBECONFIG: path.join(dir, 'a'), HOME: dir };
    expect(codeOf(() => loadCluster({ context: 'prd' }, where, env, dir))).toBe('K8S_CONTEXT_UNKNOWN');
    try {
      loadCluster({ context: 'prd' }, where, env, dir);
    } catch (e) {
      expect((e as FerryError).suggestions.join()).toContain('prod');
    }
    expect(codeOf(() => loadCluster({ kubeconfig: 'nope' }, where, env, dir))).toBe('K8S_KUBECONFIG_NOT_FOUND');
    expect(codeOf(() => loadCluster({}, where, { KUBECONFIG: path.join(dir, 'nope'), HOME: dir }, dir))).toBe('K8S_KUBECONFIG_NOT_FOUND');
    expect(codeOf(() => loadCluster({ kubeconfig: 'broken' }, where, env, dir))).toBe('K8S_KUBECONFIG_INVALID');
    expect(codeOf(() => loadCluster({}, where, { HOME: path.join(dir, 'no-home') }, dir))).toBe('K8S_NO_KUBECONFIG');
  });
});
