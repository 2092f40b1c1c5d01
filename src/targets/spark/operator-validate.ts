/**
 * The SparkApplication ferry sends, checked before anything is created (and by the tests' fake API
 * server, against every one it receives). The operator's CRD schema ships in no package this
 * project can install (npm has none; its Go module and Helm chart are not reachable from here), so
 * its v1beta2 fields are written down below from the operator's API types (api/v1beta2), limited
 * to what ferry sets and strict, so that a field ferry misspells fails here instead of being
 * pruned without a word by the API server. The Kubernetes types inside it (env, pod templates) are
 * checked against the official schema with kubernetes-models, as the Job's are.
 */
import { z } from 'zod';
import { EnvVar } from 'kubernetes-models/v1/EnvVar';
import { PodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import { DNS1123_SUBDOMAIN, labels } from '../kubernetes-job/schema.js';
import { fieldPath } from '../kubernetes-job/validate.js';

/** Spark's own size strings (the operator passes them to spark.driver.memory and friends). */
const sparkSize = z.string().regex(/^\d+[kmgtp]?$/, 'must be a Spark size such as 512m or 2g');

const podSpec = {
  cores: z.number().int().min(1).optional(),
  coreRequest: z.string().min(1).optional(),
  memory: sparkSize.optional(),
  serviceAccount: z.string().min(1).optional(),
  labels: labels.optional(),
  env: z.array(z.record(z.string(), z.unknown())).optional(),
  template: z.record(z.string(), z.unknown()).optional(),
};

const sparkApplication = z.strictObject({
  apiVersion: z.literal('sparkoperator.k8s.io/v1beta2'),
  kind: z.literal('SparkApplication'),
  metadata: z.strictObject({
    name: z.string().max(253).regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain'),
    namespace: z.string().min(1).optional(),
    labels: labels.optional(),
  }),
  spec: z.strictObject({
    type: z.enum(['Java', 'Python', 'Scala', 'R']),
    sparkVersion: z.string().min(1),
    mode: z.enum(['cluster', 'client']),
    image: z.string().min(1),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    imagePullSecrets: z.array(z.string().min(1)).optional(),
    mainClass: z.string().min(1).optional(),
    mainApplicationFile: z.string().min(1),
    arguments: z.array(z.string()).optional(),
    sparkConf: z.record(z.string(), z.string()).optional(),
    deps: z
      .strictObject({
        jars: z.array(z.string()).optional(),
        files: z.array(z.string()).optional(),
        pyFiles: z.array(z.string()).optional(),
        packages: z.array(z.string()).optional(),
        repositories: z.array(z.string()).optional(),
      })
      .optional(),
    driver: z.strictObject(podSpec),
    executor: z.strictObject({ ...podSpec, instances: z.number().int().min(1).optional() }),
    restartPolicy: z.strictObject({ type: z.enum(['Never', 'Always', 'OnFailure']) }),
  }),
});

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function modelProblems(at: string, validate: () => void): string[] {
  try {
    validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (errors === undefined) return [`${at}: ${e instanceof Error ? e.message : String(e)}`];
    return errors.map((err) => {
      const inner = err.keyword === 'required' ? fieldPath(err.instancePath, err.params['missingProperty']) : fieldPath(err.instancePath);
      const where = inner === '' ? at : inner.startsWith('[') ? `${at}${inner}` : `${at}.${inner}`;
      return `${where}: ${err.keyword === 'required' ? 'required' : (err.message ?? err.keyword)}`;
    });
  }
}

/** The problems of one SparkApplication, as "field: problem"; empty when it is valid. */
export function sparkApplicationProblems(app: unknown): string[] {
  const r = sparkApplication.safeParse(app);
  if (!r.success) return r.error.issues.map((i) => `${i.path.map(String).join('.') || '(top)'}: ${i.message}`);
  const out: string[] = [];
  for (const role of ['driver', 'executor'] as const) {
    const s = r.data.spec[role];
    for (const [i, env] of (s.env ?? []).entries()) out.push(...modelProblems(`spec.${role}.env[${String(i)}]`, () => { new EnvVar(env as never).validate(); }));
    if (s.template !== undefined) {
      // A Spark pod template may leave containers out (Spark adds its own): only what it has is checked.
      const spec = (s.template['spec'] ?? {}) as Record<string, unknown>;
      const tpl = { ...s.template, spec: { containers: [{ name: 'spark-kubernetes-driver' }], ...spec } };
      out.push(...modelProblems(`spec.${role}.template`, () => { new PodTemplateSpec(tpl).validate(); }));
    }
  }
  return out;
}
