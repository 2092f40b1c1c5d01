/**
 * Every manifest ferry would send is checked against the official Kubernetes OpenAPI schema before
 * anything is created, with the validators kubernetes-models ships (ajv code generated from the
 * upstream swagger.json, so nothing is fetched at run time and no cluster is needed: `ferry plan`
 * and `--render` check too). Loaded only when a Kubernetes target is used.
 */
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Secret } from 'kubernetes-models/v1/Secret';
import type { Obj } from './manifest.js';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/spec/template/spec/containers/0/image` → `spec.template.spec.containers[0].image` */
export function fieldPath(pointer: string, extra?: unknown): string {
  const parts = pointer.split('/').slice(1);
  if (typeof extra === 'string') parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** The schema's complaints about one manifest, as "field: problem"; empty when it is valid. */
export function schemaProblems(manifest: Obj): string[] {
  const kind = manifest['kind'];
  const model = kind === 'Job' ? new Job(manifest) : kind === 'Secret' ? new Secret(manifest) : undefined;
  if (model === undefined) return [`kind ${String(kind)}: ferry has no schema for it`];
  try {
    model.validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (errors === undefined) return [e instanceof Error ? e.message : String(e)];
    return errors.map((err) =>
      err.keyword === 'required' ? `${fieldPath(err.instancePath, err.params['missingProperty'])}: required` : `${fieldPath(err.instancePath) || '(top)'}: ${err.message ?? err.keyword}`,
    );
  }
}
