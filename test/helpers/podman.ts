import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../../src/infra/process.js';

let confPath: string | undefined;

/**
 * podman on this kind of machine needs runc (crun fails), cgroupfs and no default ulimits (no
 * CAP_SYS_RESOURCE, hybrid cgroups); see DESIGN.md. The tests bring their own containers.conf.
 */
export async function podmanEnv(): Promise<Record<string, string>> {
  if (confPath === undefined) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-podman-'));
    confPath = path.join(dir, 'containers.conf');
    await writeFile(confPath, '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n');
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env['CONTAINERS_CONF'] = confPath;
  return env;
}

/** `podman run` an image from a plain-HTTP registry; its output and the container's exit code. */
export async function podmanRun(
  image: string,
  args: string[] = [],
  opts: { env?: Record<string, string>; creds?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const envFlags = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  // podman 4.3's run has no --creds; pull with them first, then run what was pulled.
  if (opts.creds !== undefined) {
    const pull = await runProcess('podman', ['pull', '--tls-verify=false', '--creds', opts.creds, image], { env: await podmanEnv(), timeoutMs: 120_000 });
    if (pull.code !== 0) return { code: pull.code ?? -1, stdout: pull.stdout, stderr: pull.stderr };
  }
  const pullPolicy = opts.creds === undefined ? '--pull=always' : '--pull=never';
  const r = await runProcess('podman', ['run', '--rm', '--tls-verify=false', pullPolicy, ...envFlags, image, ...args], {
    env: await podmanEnv(),
    timeoutMs: 120_000,
  });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}
