/**
 * The only file that talks to the AWS SDK's CloudWatch Logs client, for the Batch adapter's logs: a
 * Batch job's container writes, through the awslogs driver, to one log stream per attempt (group
 * /aws/batch/job unless the job definition names another). Loaded lazily, like client.ts; the
 * endpoint follows AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, read by the SDK itself.
 */
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { authError } from '../../core/errors.js';
import { awsName, redactCredentialsOf } from '../../infra/aws-errors.js';
import { registerSecret } from '../../infra/redact.js';
import { batchError, type BatchWhere } from './client.js';

export interface LogEvent {
  timestamp?: number;
  message: string;
}

export interface LogPage {
  events: LogEvent[];
  /** Pass back to read on; equal to the token sent when there was nothing new. */
  nextForwardToken?: string;
}

export interface LogsApi {
  /** The events after `token` (from the start without one); null when the stream does not exist (yet). */
  getLogEvents(group: string, stream: string, token: string | undefined): Promise<LogPage | null>;
}

export async function createLogsApi(where: BatchWhere): Promise<LogsApi> {
  // CommonJS under Node: named exports there, only the default export in a bundle.
  const mod = (await import('@aws-sdk/client-cloudwatch-logs')) as typeof import('@aws-sdk/client-cloudwatch-logs') & { default?: typeof import('@aws-sdk/client-cloudwatch-logs') };
  const sdk = mod.default ?? mod;
  const client: CloudWatchLogsClient = new sdk.CloudWatchLogsClient(where.region === undefined ? {} : { region: where.region });
  const redactCredentials = redactCredentialsOf(client, registerSecret);
  return {
    async getLogEvents(group, stream, token) {
      const what = `GetLogEvents ${group} ${stream}`;
      try {
        await redactCredentials();
        const out = await client.send(
          new sdk.GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, ...(token === undefined ? {} : { nextToken: token }) }),
        );
        return {
          events: (out.events ?? []).map((e) => ({ ...(e.timestamp === undefined ? {} : { timestamp: e.timestamp }), message: e.message ?? '' })),
          ...(out.nextForwardToken === undefined ? {} : { nextForwardToken: out.nextForwardToken }),
        };
      } catch (e) {
        const name = awsName(e);
        // The stream appears with the container's first line; the group with the first job.
        if (name === 'ResourceNotFoundException') return null;
        if (name === 'AccessDeniedException' || name === 'AccessDenied') {
          throw authError('BATCH_LOGS_ACCESS_DENIED', `AWS denied ${what} (${name})`, {
            cause: e,
            details: { target: where.target, operation: 'GetLogEvents', awsError: name },
            suggestions: ['the IAM identity needs logs:GetLogEvents on the log group', 'check which identity is in use: `aws sts get-caller-identity`'],
          });
        }
        throw batchError(e, what, where, { name: 'CloudWatch Logs', endpointVar: 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS' });
      }
    },
  };
}
