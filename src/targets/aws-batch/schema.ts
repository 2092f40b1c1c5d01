import { z } from 'zod';

/**
 * `targets.<name>` with `type: aws-batch`. What every target shares (command, args, env, resources,
 * timeout) is in `job`; these are the settings only Batch has. Names follow AWS's own limits so a
 * bad one fails in ferry.yaml, at its line, before any AWS call.
 */
const BATCH_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export const batchTargetSchema = z
  .strictObject({
    type: z.literal('aws-batch'),
    queue: z.string().min(1).max(1600).describe('The job queue: its name or ARN.'),
    jobDefinition: z
      .string()
      .regex(BATCH_NAME, 'must be up to 128 letters, digits, - and _, starting with a letter or digit')
      .optional()
      .describe('Job definition name (default: ferry-<image repository>-<target>). An identical ACTIVE revision is reused.'),
    platform: z.enum(['EC2', 'FARGATE']).default('EC2').describe('Where the job runs: EC2 (or Spot) compute environments, or FARGATE.'),
    jobRoleArn: z.string().regex(ROLE_ARN, 'must be an IAM role ARN: arn:aws:iam::123456789012:role/NAME').optional().describe('The role the job assumes (its AWS credentials).'),
    executionRoleArn: z
      .string()
      .regex(ROLE_ARN, 'must be an IAM role ARN: arn:aws:iam::123456789012:role/NAME')
      .optional()
      .describe('The role ECS uses to pull the image and write logs (required on FARGATE).'),
    fargate: z
      .strictObject({
        assignPublicIp: z.boolean().default(false).describe('Needed to pull images without a NAT gateway or VPC endpoints.'),
        platformVersion: z.string().min(1).default('LATEST'),
      })
      .optional()
      .describe('FARGATE only: network and platform version.'),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(10).describe('Attempts in all, 1 to 10 (AWS limits).'),
        retryOnExitCodes: z.array(z.number().int().min(0).max(255)).optional().describe('Retry only when the container exits with one of these codes.'),
      })
      .optional(),
    logGroup: z.string().min(1).max(512).optional().describe('CloudWatch Logs group (default: Batch\'s /aws/batch/job).'),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}).describe('Tags for the job definition and jobs.'),
  })
  .superRefine((t, ctx) => {
    if (t.platform === 'FARGATE' && t.executionRoleArn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['executionRoleArn'], message: 'FARGATE jobs need an execution role (to pull the image and write logs)' });
    }
    if (t.platform === 'EC2' && t.fargate !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['fargate'], message: 'fargate settings apply only with platform: FARGATE' });
    }
  })
  .describe('Run as an AWS Batch job: ferry registers (or reuses) a job definition, submits to the queue, waits and streams its CloudWatch logs.');

export type BatchTargetConfig = z.output<typeof batchTargetSchema>;
