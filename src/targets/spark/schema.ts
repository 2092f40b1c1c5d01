import { z } from 'zod';
import { labels as k8sLabels } from '../kubernetes-job/schema.js';

/**
 * `targets.<name>` with `type: spark`: an application run by `spark-submit`, which ferry runs inside
 * the pushed image (pinned by digest) on this machine's engine. What every target shares is in
 * `job`: job.args are the application's arguments, job.env its environment (driver and executors),
 * job.resources the executors' defaults. Values are only shaped here; what needs a coded error
 * (a bad master URL, a missing file, a conf that fights ferry) is checked by the adapter's check(),
 * which names the key and runs before the build.
 */
const confValue = z.union([z.string(), z.number(), z.boolean()]);
const memory = z.union([z.string(), z.number()]);

export const sparkTargetSchema = z
  .strictObject({
    type: z.literal('spark'),
    submit: z
      .enum(['spark-submit', 'operator'])
      .default('spark-submit')
      .describe('How the application is started: spark-submit (default; run by ferry in the image on this machine), or operator: a SparkApplication (sparkoperator.k8s.io/v1beta2) that the Kubernetes Spark operator in the cluster runs; nothing runs on this machine.'),
    master: z
      .string()
      .min(1)
      .optional()
      .describe('Where the application runs: local, local[N], local[*]; spark://HOST:PORT (a standalone master, or several: spark://h1:7077,h2:7077); k8s://https://HOST:PORT (Kubernetes, cluster mode). Required with submit: spark-submit; with submit: operator the cluster is the kubeconfig\'s (a k8s:// master given must be its API server).'),
    sparkVersion: z
      .string()
      .regex(/^\d+\.\d+(\.\d+)?$/, 'must be a Spark version such as 3.5.3')
      .optional()
      .describe("submit: operator: the image's Spark version (the SparkApplication's required spec.sparkVersion)."),
    app: z
      .string()
      .min(1)
      .describe(
        'The application: a file in the image (local:///app/job.py), a path relative to ferry.yaml (mounted into the spark-submit container; not with k8s://), or a URL the cluster can read (https://, s3a://, hdfs://, gs://, abfss://). A .py file is a PySpark app; a .jar needs mainClass.',
      ),
    mainClass: z.string().min(1).optional().describe('The main class of a JVM application (--class).'),
    name: z.string().min(1).optional().describe('The application name Spark shows (default ferry-<target>).'),
    pyFiles: z.array(z.string().min(1)).default([]).describe('--py-files: .py, .zip or .egg files, written as app is.'),
    jars: z.array(z.string().min(1)).default([]).describe('--jars: extra jars, written as app is.'),
    files: z.array(z.string().min(1)).default([]).describe('--files: files placed in each executor\'s working directory, written as app is.'),
    packages: z.array(z.string().min(1)).default([]).describe('--packages: Maven coordinates group:artifact:version, fetched by spark-submit.'),
    repositories: z.array(z.url()).default([]).describe('--repositories: extra Maven repositories for packages.'),
    conf: z.record(z.string().min(1), confValue).default({}).describe('--conf KEY=VALUE for each entry: keys start with spark.; values are strings, numbers or booleans.'),
    driver: z
      .strictObject({
        memory: memory.optional().describe('--driver-memory, as 2g or 2Gi.'),
        cores: z.number().int().min(1).optional().describe('--driver-cores (cluster mode: k8s://).'),
      })
      .default({})
      .describe('The driver JVM.'),
    executor: z
      .strictObject({
        memory: memory.optional().describe('--executor-memory (default job.resources.memory).'),
        cores: z.number().int().min(1).optional().describe('--executor-cores (default job.resources.cpu, when a whole number).'),
        instances: z.number().int().min(1).optional().describe('spark.executor.instances: how many executors (k8s://; on standalone masters, cores.max decides).'),
      })
      .default({})
      .describe('The executors.'),
    sparkSubmit: z.string().min(1).default('spark-submit').describe('spark-submit in the image: a command on its PATH or an absolute path.'),
    engine: z.enum(['auto', 'docker', 'podman']).default('auto').describe('The engine on this machine that runs the spark-submit container (as type: local).'),
    network: z.string().min(1).default('host').describe("The spark-submit container's network. host (default): a client-mode driver must be reachable by the executors, and the master and API server by it."),
    volumes: z
      .array(z.string().min(1))
      .default([])
      .describe('Bind mounts for the spark-submit container, as docker run -v (local and spark:// masters, where the driver runs in it): ./data:/data:ro, relative to ferry.yaml.'),
    kubernetes: z
      .strictObject({
        namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name').default('default'),
        serviceAccount: z.string().min(1).optional().describe('The driver pod\'s service account (it creates the executor pods).'),
        kubeconfig: z.string().min(1).optional().describe('The kubeconfig spark-submit uses, relative to ferry.yaml (default $KUBECONFIG, else ~/.kube/config). It is mounted read-only into the spark-submit container, so it must be self-contained (embedded certificates and tokens). With submit: operator, ferry itself uses it, found as kubectl does (also in-cluster).'),
        context: z.string().min(1).optional().describe('The kubeconfig context (default its current-context).'),
        driverPodTemplate: z.string().min(1).optional().describe('A pod template file for the driver, relative to ferry.yaml.'),
        executorPodTemplate: z.string().min(1).optional().describe('A pod template file for the executors, relative to ferry.yaml.'),
        imagePullSecrets: z.array(z.string().min(1)).default([]).describe('Secrets the pods pull the image with.'),
        labels: k8sLabels.default({}).describe('Labels on the driver and executor pods (and, with submit: operator, the SparkApplication).'),
      })
      .optional()
      .describe('k8s:// masters and submit: operator only: where and how the driver pod runs.'),
  })
  .superRefine((c, ctx) => {
    if (c.submit === 'spark-submit' && c.master === undefined) {
      ctx.addIssue({ code: 'custom', path: ['master'], message: 'master is required (local[*], spark://HOST:PORT or k8s://https://HOST:PORT), unless submit: operator' });
    }
    if (c.submit === 'operator' && c.sparkVersion === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sparkVersion'], message: "sparkVersion is required with submit: operator (the image's Spark version, e.g. 3.5.3: the SparkApplication needs it)" });
    }
  })
  .describe('Run a Spark application with spark-submit, inside the image pinned by digest: on a local master, a standalone master (client mode: the driver is that container), or Kubernetes (cluster mode: the driver is a pod of the image).');

export type SparkTargetConfig = z.output<typeof sparkTargetSchema>;
