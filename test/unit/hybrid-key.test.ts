import { mkdtemp, symlink, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { silentReporter } from '../../src/core/context.js';
import { planHybrid, prefixKey } from '../../src/builders/hybrid.js';
import { parseDockerfile, resolveBuildPlan } from '../../src/builders/native/dockerfile.js';
import { LayerCache } from '../../src/image/layer-cache.js';

/** The prefix key must change whenever what the prefix reads changes, and only then. */
let dir: string;
let cache: LayerCache;

async function key(dockerfile: string, buildArgs: Record<string, string> = {}): Promise<string> {
  const plan = resolveBuildPlan(parseDockerfile(dockerfile, { heredocs: 'allow' }), { buildArgs });
  const split = planHybrid(plan, dockerfile);
  if (split === undefined) throw new Error('no split');
  return prefixKey({
    split,
    plan,
    contextDir: dir,
    excludeFromContext: [path.join(dir, '.ferry')],
    platform: { os: 'linux', architecture: 'amd64' },
    buildArgs,
    secretIds: [],
    cache,
    // FROM scratch: no registry is asked.
    registries: { client: () => { throw new Error('no registry in this test'); } },
    reporter: silentReporter,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hybrid-key-'));
  cache = await LayerCache.open(path.join(dir, '.ferry', 'cache'));
  await writeFile(path.join(dir, 'requirements.txt'), 'pandas\n');
  await writeFile(path.join(dir, 'app.py'), 'print(1)\n');
});

describe('prefixKey', () => {
  const df = 'FROM scratch\nCOPY requirements.txt /r.txt\nRUN install /r.txt\nCOPY app.py /app.py\n';

  it('changes with a file the prefix COPYs, not with a file only the suffix reads', async () => {
    const a = await key(df);
    await writeFile(path.join(dir, 'app.py'), 'print(2)\n');
    expect(await key(df)).toBe(a);
    await writeFile(path.join(dir, 'requirements.txt'), 'pandas==2.2\n');
    expect(await key(df)).not.toBe(a);
  });

  it('changes with the prefix text and the build args, and ignores ferry\'s own output in the context', async () => {
    const a = await key(df);
    const all = df.replace('COPY requirements.txt /r.txt\n', 'COPY . /src\n');
    const before = await key(all);
    await mkdir(path.join(dir, '.ferry', 'oci'), { recursive: true });
    await writeFile(path.join(dir, '.ferry', 'oci', 'index.json'), '{}');
    expect(await key(all)).toBe(before);
    await writeFile(path.join(dir, 'new.txt'), 'x');
    expect(await key(all)).not.toBe(before);
    expect(await key(df.replace('install', 'install --user'))).not.toBe(a);
    expect(await key(df, { X: '1' })).not.toBe(a);
  });

  it('changes with a file read through RUN --mount=type=bind', async () => {
    const mountDf = 'FROM scratch\nRUN --mount=type=bind,source=requirements.txt,target=/r.txt install /r.txt\nCOPY app.py /app.py\n';
    const a = await key(mountDf);
    await writeFile(path.join(dir, 'app.py'), 'print(2)\n');
    expect(await key(mountDf)).toBe(a);
    await writeFile(path.join(dir, 'requirements.txt'), 'numpy\n');
    expect(await key(mountDf)).not.toBe(a);
  });

  it('follows a symlinked source: its target changing changes the key', async () => {
    await writeFile(path.join(dir, 'real.txt'), 'one\n');
    await symlink('real.txt', path.join(dir, 'link.txt'));
    const linkDf = 'FROM scratch\nCOPY link.txt /dep.txt\nRUN install /dep.txt\nCOPY app.py /app.py\n';
    const a = await key(linkDf);
    await writeFile(path.join(dir, 'real.txt'), 'two\n');
    expect(await key(linkDf)).not.toBe(a);
  });

  it('includes a heredoc prefix step, and refuses to split after ADD of a URL', () => {
    const text = 'FROM scratch\nRUN <<EOF\ninstall\nEOF\nCOPY app.py /app.py\n';
    const plan = resolveBuildPlan(parseDockerfile(text, { heredocs: 'allow' }));
    expect(planHybrid(plan, text)?.last.endLine).toBe(4);
    const url = 'FROM scratch\nADD https://example.com/x.tar /x\nRUN install\nCOPY app.py /app.py\n';
    expect(planHybrid(resolveBuildPlan(parseDockerfile(url)), url)).toBeUndefined();
  });

  it('notes a CMD set before the cut, which a later ENTRYPOINT keeps', () => {
    const text = 'FROM scratch\nCMD ["--help"]\nRUN true\nENTRYPOINT ["echo"]\n';
    expect(planHybrid(resolveBuildPlan(parseDockerfile(text)), text)?.cmdInPrefix).toBe(true);
  });
});
