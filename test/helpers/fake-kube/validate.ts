// Validates every manifest the fake receives against the official Kubernetes OpenAPI schema, as
// compiled by kubernetes-models (ajv validators generated from the upstream swagger.json; offline, no
// install scripts), plus the few semantic rules of the real API server that ferry could trip on.
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Event } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
// The same JSON-pointer → field-path rendering as ferry's own validation errors.
import { fieldPath } from '../../../src/targets/kubernetes-job/validate.js';
import { sparkApplicationProblems } from '../../../src/targets/spark/operator-validate.js';
import type { StatusCause } from './protocol.js';
import type { Resource } from './store.js';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

const models: Record<Exclude<Resource, 'sparkapplications'>, new (data: never) => { validate(): void }> = {
  jobs: Job,
  pods: Pod,
  secrets: Secret,
  configmaps: ConfigMap,
  services: Service,
  networkpolicies: NetworkPolicy,
  namespaces: Namespace,
  events: Event,
};


function schemaCauses(resource: Resource, body: unknown): StatusCause[] {
  if (resource === 'sparkapplications') {
    // No package ships the operator's CRD schema: ferry's own rendition of its v1beta2 fields.
    return sparkApplicationProblems(body).map((p) => {
      const at = p.indexOf(': ');
      return { reason: 'FieldValueInvalid', field: p.slice(0, at), message: `Invalid value: ${p.slice(at + 2)}` };
    });
  }
  const Model = models[resource];
  try {
    new Model(body as never).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!errors) throw e;
    return errors.map((err) => {
      if (err.keyword === 'required') {
        return { reason: 'FieldValueRequired', message: 'Required value', field: fieldPath(err.instancePath, err.params.missingProperty) };
      }
      if (err.keyword === 'enum') {
        return { reason: 'FieldValueNotSupported', message: `Unsupported value: ${err.message ?? ''}`, field: fieldPath(err.instancePath) };
      }
      return { reason: 'FieldValueInvalid', message: `Invalid value: ${err.message ?? err.keyword}`, field: fieldPath(err.instancePath) };
    });
  }
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface JobLike {
  metadata?: { name?: string; generateName?: string };
  spec?: {
    completions?: number;
    parallelism?: number;
    completionMode?: string;
    template?: { spec?: { restartPolicy?: string; containers?: { name?: string }[] } };
  };
}

/** The API server's own validation beyond the schema (a subset). */
function semanticCauses(resource: Resource, body: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const b = body as JobLike;
  const name = b.metadata?.name;
  if (name !== undefined && (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))) {
    causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
  }
  if (resource !== 'jobs' || !b.spec) return causes;
  if (name !== undefined && name.length > 63) {
    // Job names become the job-name label value, which is limited to 63 characters.
    causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": must be no more than 63 characters` });
  }
  const rp = b.spec.template?.spec?.restartPolicy;
  if (rp !== 'Never' && rp !== 'OnFailure') {
    causes.push(
      rp === undefined
        ? { reason: 'FieldValueRequired', field: 'spec.template.spec.restartPolicy', message: 'Required value: valid values: "OnFailure", "Never"' }
        : { reason: 'FieldValueNotSupported', field: 'spec.template.spec.restartPolicy', message: `Unsupported value: "${rp}": supported values: "OnFailure", "Never"` },
    );
  }
  if (b.spec.completionMode === 'Indexed' && b.spec.completions === undefined) {
    causes.push({ reason: 'FieldValueRequired', field: 'spec.completions', message: 'Required value: when completion mode is Indexed' });
  }
  for (const [i, c] of (b.spec.template?.spec?.containers ?? []).entries()) {
    if (c.name !== undefined && !DNS1123_LABEL.test(c.name)) {
      causes.push({ reason: 'FieldValueInvalid', field: `spec.template.spec.containers[${i}].name`, message: `Invalid value: "${c.name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'` });
    }
  }
  return causes;
}

export interface ValidationRecord {
  resource: Resource;
  name: string;
  ok: boolean;
  causes: StatusCause[];
}

/** Schema first; semantic checks only for a body that has the right shape. */
export function validateManifest(resource: Resource, body: unknown): StatusCause[] {
  const schema = schemaCauses(resource, body);
  return schema.length ? schema : semanticCauses(resource, body);
}
