import { z } from 'zod';

/**
 * `targets.<name>` with `type: aws-lambda`: a container-image function. What every target shares
 * (command, args, env, resources.memory, timeout) is in `job`; these are Lambda's own settings. AWS's
 * limits are checked here so a bad value fails at its line in ferry.yaml, before any AWS call.
 */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export const lambdaTargetSchema = z
  .strictObject({
    type: z.literal('aws-lambda'),
    functionName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, - and _ (a function name, not an ARN)')
      .describe('The function to create or update.'),
    role: z.string().regex(ROLE_ARN, 'must be an IAM role ARN: arn:aws:iam::123456789012:role/NAME').describe('The execution role the function assumes.'),
    architecture: z
      .enum(['x86_64', 'arm64'])
      .optional()
      .describe("The function's architecture. Default: the image's own (linux/amd64 is x86_64, linux/arm64 is arm64); when set, the image must match it."),
    ephemeralStorage: z
      .string()
      .optional()
      .describe('/tmp size, 512Mi to 10Gi (default 512Mi).'),
    publish: z.boolean().default(false).describe('Publish a version after each update.'),
    alias: z
      .string()
      .regex(/^(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}$/, 'must be 1 to 128 letters, digits, - and _, not only digits')
      .optional()
      .describe('Point this alias at the published version (needs publish: true).'),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  })
  .superRefine((t, ctx) => {
    if (t.alias !== undefined && !t.publish) ctx.addIssue({ code: 'custom', path: ['alias'], message: 'an alias points at a published version: set publish: true' });
  })
  .describe('Run as an AWS Lambda container function: ferry creates or updates it with the image pinned by digest, waits until it is ready, and can invoke it.');

export type LambdaTargetConfig = z.output<typeof lambdaTargetSchema>;
