import { z } from 'zod';

/**
 * `targets.<name>` with `type: kubernetes-job`. What every target shares (command, args, env,
 * resources, timeout) is in `job`; these are the settings only a Kubernetes Job has. Names and
 * labels follow the API server's own rules (DNS-1123, 63-character label values), so a bad one
 * fails at its line in ferry.yaml before any cluster call.
 */

/** RFC 1123 label: what namespaces, Job names and container names must be (Job names: see below). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_HELP = 'must be a DNS-1123 label: at most 63 lowercase letters, digits and -, starting and ending with a letter or digit';
/** RFC 1123 subdomain: Secret, ConfigMap and ServiceAccount names. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_HELP = 'must be a DNS-1123 subdomain: lowercase letters, digits, - and ., each part starting and ending with a letter or digit (at most 253)';
/** A label value: empty, or up to 63 of [A-Za-z0-9_.-] starting and ending alphanumeric. */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** A label key: an optional DNS subdomain prefix and /, then a name of up to 63 characters. */
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return `the prefix "${prefix}" ${DNS1123_SUBDOMAIN_HELP}`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return `the name "${name}" must be at most 63 letters, digits, -, _ and ., starting and ending with a letter or digit`;
  return undefined;
}

const dnsLabel = z.string().max(63, DNS1123_LABEL_HELP).regex(DNS1123_LABEL, DNS1123_LABEL_HELP);
const dnsSubdomain = z.string().max(253, DNS1123_SUBDOMAIN_HELP).regex(DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_HELP);
const labelValue = z
  .string()
  .max(63, 'a label value must be at most 63 characters')
  .regex(LABEL_VALUE, 'a label value must be letters, digits, -, _ and ., starting and ending with a letter or digit');
export const labels = z.record(z.string().superRefine((k, ctx) => {
  const p = labelKeyProblem(k);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
}), labelValue);

/** A Secret's or ConfigMap's key, as `envFrom`-style references name it. */
const keyRef = z.strictObject({
  name: dnsSubdomain.describe('The Secret or ConfigMap, in the target namespace.'),
  key: z.string().min(1).max(253).regex(/^[-._a-zA-Z0-9]+$/, 'must be letters, digits, -, _ and .').describe('The key in it.'),
  optional: z.boolean().default(false).describe('Start the pod even when the key is missing (ferry then skips its check).'),
});

const quantity = z.union([z.string().min(1), z.number().nonnegative()]);
const resourceMap = z.record(z.string().min(1), quantity);

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

export const kubernetesJobTargetSchema = z
  .strictObject({
    type: z.literal('kubernetes-job'),
    kubeconfig: z
      .string()
      .min(1)
      .optional()
      .describe('A kubeconfig file (relative to ferry.yaml). Default: as kubectl finds it: $KUBECONFIG (a list of files), ~/.kube/config, or the in-cluster service account.'),
    context: z.string().min(1).optional().describe("The kubeconfig context to use (default: the kubeconfig's current-context)."),
    namespace: dnsLabel.optional().describe("The namespace the Job runs in (default: the context's namespace, else \"default\"). It must exist: ferry does not create namespaces."),
    name: dnsLabel
      .max(45, 'must be at most 45 characters: ferry appends -<10 hex digits> to make the Job name, and an Indexed Job\'s pods are named <Job name>-<index>, which must fit in 63')
      .optional()
      .describe('The start of the Job name (default: ferry-<target>). The Job is named NAME-<hash of what it runs>, so a retried deploy finds its Job instead of making a second.'),
    serviceAccountName: dnsSubdomain.optional().describe("The pod's service account."),
    backoffLimit: z.number().int().min(0).max(1000).default(0).describe('Retries after a failed pod (Kubernetes defaults to 6; ferry to 0, one attempt, as a batch job run by hand expects).'),
    activeDeadlineSeconds: z.number().int().min(1).optional().describe('Fail the Job after this many seconds (DeadlineExceeded). Default: job.timeout when set.'),
    ttlSecondsAfterFinished: z.number().int().min(0).optional().describe('Delete the Job this long after it finished (its logs go with it). Default: keep it.'),
    parallelism: z.number().int().min(1).optional().describe('--each: how many children run at once (default: all of them).'),
    nodeSelector: z.record(z.string().min(1), labelValue).optional().describe('Run only on nodes with these labels.'),
    tolerations: z.array(toleration).optional().describe('Tolerations for tainted nodes, as in a pod spec.'),
    labels: labels.default({}).describe('Extra labels on the Job and its pods (ferry adds app.kubernetes.io/managed-by: ferry and its own).'),
    annotations: z.record(z.string(), z.string()).default({}).describe('Extra annotations on the Job and its pods.'),
    secretEnv: z.record(z.string().regex(ENV_NAME, 'must be an environment variable name'), keyRef).default({}).describe('Variables from Secret keys: VAR: {name: SECRET, key: KEY}. ferry checks that each key exists, and never reads it out.'),
    configMapEnv: z.record(z.string().regex(ENV_NAME, 'must be an environment variable name'), keyRef).default({}).describe('Variables from ConfigMap keys: VAR: {name: CONFIGMAP, key: KEY}.'),
    envFrom: z
      .array(
        z.union([
          z.strictObject({ secret: dnsSubdomain, optional: z.boolean().default(false) }),
          z.strictObject({ configMap: dnsSubdomain, optional: z.boolean().default(false) }),
        ]),
      )
      .default([])
      .describe('Every key of these Secrets or ConfigMaps as variables: - secret: NAME, or - configMap: NAME.'),
    resources: z
      .strictObject({ requests: resourceMap.optional(), limits: resourceMap.optional() })
      .optional()
      .describe('The container\'s requests and limits as Kubernetes quantities. Default: from job.resources (cpu and memory requested; memory also the limit; gpu as nvidia.com/gpu).'),
    podSecurityContext: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The pod's securityContext, as in a pod spec (runAsNonRoot, runAsUser, fsGroup, seccompProfile, …); checked against the Kubernetes schema before anything is created."),
    securityContext: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The container's securityContext, as in a pod spec (allowPrivilegeEscalation, capabilities, readOnlyRootFilesystem, …). A namespace that enforces PodSecurity \"restricted\" needs e.g. {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}} with podSecurityContext {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}."),
    imagePullSecret: z
      .union([z.literal(false), dnsSubdomain])
      .optional()
      .describe('The image pull Secret ferry creates or updates from its own registry credentials (the ECR token included), default ferry-pull-<registry>; false: none (the cluster can pull on its own).'),
  })
  .describe('Run as a Kubernetes Job: ferry creates the Job with the image pinned by digest, watches it to the end, streams its pods\' logs, and exits with the container\'s exit code.');

export type KubernetesJobTargetConfig = z.output<typeof kubernetesJobTargetSchema>;
