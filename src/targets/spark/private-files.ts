/**
 * The files ferry itself hands the spark-submit container, made at deploy in a private temp
 * directory (0700) and removed once the container has them: a copy of the kubeconfig (k8s://), and
 * the properties file that carries job.env to Spark (--properties-file). They are written here and
 * not planned, since they hold credentials and env values that `ferry plan` must not show.
 *
 * Both are mounted read-only with the SELinux option `z`: on an SELinux host (Fedora, RHEL) a
 * container may not read a file labelled as a user's temp file, and these copies exist only for
 * this container, so relabelling them is harmless (an engine without SELinux ignores `z`). The
 * user's own project files and volumes are never relabelled by ferry: `volumes: ["./d:/d:ro,z"]`
 * is theirs to write.
 */
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ContainerRun } from '../local/engine.js';
import type { VolumeSpec } from '../local/spec.js';
import { KUBECONFIG_IN_CONTAINER, PROPERTIES_IN_CONTAINER, type SparkSubmit } from './submit.js';

/**
 * Runs `use` with the container spec completed by the private files and job.env's values, then
 * removes the files. A container started by `use` keeps reading them: a bind mount holds the file
 * itself, not its path.
 */
export async function withPrivateFiles<T>(spec: ContainerRun, submit: SparkSubmit, jobEnv: Record<string, string>, use: (spec: ContainerRun) => Promise<T>): Promise<T> {
  const env: [string, string][] = [...spec.env];
  if (submit.jobEnv.container) for (const k of submit.jobEnv.keys) env.push([k, jobEnv[k] ?? '']);
  const kubeconfig = spec.volumes.find((v) => v.target === KUBECONFIG_IN_CONTAINER);
  const properties = submit.jobEnv.properties.map(({ name, env: k }): [string, string] => [name, jobEnv[k] ?? '']);
  if (kubeconfig === undefined && properties.length === 0) return use({ ...spec, env });
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-spark-'));
  try {
    const volumes: VolumeSpec[] = [...spec.volumes];
    if (kubeconfig !== undefined) {
      // The kubeconfig is usually 0600 and the image's user is often not root (Spark's own images
      // run as uid 185): spark-submit gets a copy it can read, in this private directory.
      const copy = path.join(dir, 'kubeconfig');
      await copyFile(kubeconfig.source, copy);
      await chmod(copy, 0o644);
      volumes[volumes.indexOf(kubeconfig)] = privateMount(copy, KUBECONFIG_IN_CONTAINER);
    }
    if (properties.length > 0) {
      const file = path.join(dir, 'spark-submit.properties');
      await writeFile(file, propertiesText(properties), { mode: 0o644 });
      await chmod(file, 0o644);
      volumes.push(privateMount(file, PROPERTIES_IN_CONTAINER));
    }
    return await use({ ...spec, env, volumes });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function privateMount(source: string, target: string): VolumeSpec {
  return { source, named: false, target, readOnly: true, options: ['z'] };
}

/**
 * java.util.Properties text, as Spark's Utils.getPropertiesFromFile loads it: backslash escapes
 * for what would end or split a line, separators in keys and a value's leading space; characters
 * outside ASCII as \uXXXX (read the same whether the file is read as UTF-8 or ISO-8859-1). Spark
 * trims each value it loads, so white space around a value does not reach the job.
 */
export function propertiesText(entries: readonly [string, string][]): string {
  const escape = (s: string, key: boolean): string =>
    // Code points, each escaped on its own (a surrogate pair becomes two \u escapes, as Java reads them).
    Array.from(s)
      .map((c, i) => {
        if (c === '\\') return '\\\\';
        if (c === '\n') return '\\n';
        if (c === '\r') return '\\r';
        if (c === '\t') return '\\t';
        if (c === '\f') return '\\f';
        if ((key && (c === '=' || c === ':' || c === ' ' || c === '#' || c === '!')) || (!key && i === 0 && c === ' ')) return `\\${c}`;
        const code = c.codePointAt(0) ?? 0;
        if (code < 0x20 || code > 0x7e) {
          const units = code > 0xffff ? [0xd800 + ((code - 0x10000) >> 10), 0xdc00 + ((code - 0x10000) & 0x3ff)] : [code];
          return units.map((u) => `\\u${u.toString(16).padStart(4, '0')}`).join('');
        }
        return c;
      })
      .join('');
  return `# written by ferry for one spark-submit run; removed once it started\n${entries.map(([k, v]) => `${escape(k, true)}=${escape(v, false)}\n`).join('')}`;
}
