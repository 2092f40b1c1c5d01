/**
 * The only file that talks to the AWS SDK's ECR client. It is imported lazily (by ./registry.ts,
 * on the first request to an ECR host), and imports the SDK lazily itself, so commands that never
 * reach ECR never load it.
 *
 * Credentials, region and endpoint follow the SDK's own rules: the default credential chain (env,
 * shared config and credentials files with AWS_PROFILE, SSO, web identity, container and instance
 * metadata), the region from the registry host, and endpoint overrides through AWS_ENDPOINT_URL or
 * AWS_ENDPOINT_URL_ECR. Throttling is retried by the SDK (its standard retry mode; AWS_MAX_ATTEMPTS
 * and AWS_RETRY_MODE tune it); what is still failing afterwards becomes a coded FerryError here.
 */
import type { ECRClient } from '@aws-sdk/client-ecr';
import { authError, configError, dataError, type FerryError, tempError, unavailableError } from '../../core/errors.js';
import { registerSecret } from '../../infra/redact.js';
import type { EcrHost } from './hosts.js';
import { awsName, CREDENTIALS_HELP, NETWORK, redactCredentialsOf, REJECTED, THROTTLED } from '../../infra/aws-errors.js';

export interface EcrToken {
  /** base64 of "AWS:<password>", as GetAuthorizationToken answers it. */
  token: string;
  /** When AWS says it expires (ms since epoch), if it says. */
  expiresAt: number | undefined;
}

export interface RepositoryOptions {
  tagImmutability: boolean;
  scanOnPush: boolean;
}

/** What ferry asks of ECR's API. Tests may supply their own. */
export interface EcrApi {
  getAuthorizationToken(): Promise<EcrToken>;
  /** Describe, and create when missing. Answers which happened. */
  ensureRepository(name: string, opts: RepositoryOptions): Promise<'exists' | 'created'>;
}

export async function createEcrApi(host: EcrHost): Promise<EcrApi> {
  // The SDK is CommonJS for Node: Node gives named exports, the bundle only the default export.
  const mod = (await import('@aws-sdk/client-ecr')) as typeof import('@aws-sdk/client-ecr') & { default?: typeof import('@aws-sdk/client-ecr') };
  const sdk = mod.default ?? mod;
  const client: ECRClient = new sdk.ECRClient({
    // The registry's region, whatever AWS_REGION says: a token from another region is refused.
    region: host.region,
    ...(host.fips ? { useFipsEndpoint: true } : {}),
    ...(host.dualStack ? { useDualstackEndpoint: true } : {}),
  });
  const redactCredentials = redactCredentialsOf(client, registerSecret);
  const send = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      await redactCredentials();
      return await op();
    } catch (e) {
      throw awsError(e, what, host);
    }
  };
  return {
    async getAuthorizationToken() {
      const out = await send(`GetAuthorizationToken for ${host.host}`, () => client.send(new sdk.GetAuthorizationTokenCommand({})));
      const data = out.authorizationData?.[0];
      const token = data?.authorizationToken;
      if (token === undefined || token === '') {
        throw unavailableError('ECR_REQUEST_FAILED', `GetAuthorizationToken for ${host.host} answered no token`, {
          details: { registry: host.host, operation: 'GetAuthorizationToken' },
        });
      }
      registerSecret(token);
      return { token, expiresAt: data?.expiresAt?.getTime() };
    },
    async ensureRepository(name, opts) {
      try {
        await send(`DescribeRepositories for ${name} in ${host.host}`, () =>
          client.send(new sdk.DescribeRepositoriesCommand({ registryId: host.account, repositoryNames: [name] })),
        );
        return 'exists';
      } catch (e) {
        if (awsName(causeOf(e)) !== 'RepositoryNotFoundException') throw e;
      }
      try {
        await send(`CreateRepository ${name} in ${host.host}`, () =>
          client.send(
            new sdk.CreateRepositoryCommand({
              registryId: host.account,
              repositoryName: name,
              imageTagMutability: opts.tagImmutability ? 'IMMUTABLE' : 'MUTABLE',
              imageScanningConfiguration: { scanOnPush: opts.scanOnPush },
            }),
          ),
        );
        return 'created';
      } catch (e) {
        // Another push created it in between: fine.
        if (awsName(causeOf(e)) === 'RepositoryAlreadyExistsException') return 'exists';
        throw e;
      }
    },
  };
}

function causeOf(e: unknown): unknown {
  return e instanceof Error && e.cause !== undefined ? e.cause : e;
}


/** An SDK failure as a FerryError with a code; the SDK error stays as its cause (shown with --debug). */
export function awsError(e: unknown, what: string, host: EcrHost): FerryError {
  const name = awsName(e);
  const message = e instanceof Error ? e.message : String(e);
  const meta = (e as { $metadata?: { httpStatusCode?: number }; $fault?: string } | null)?.$metadata;
  const status = meta?.httpStatusCode;
  const details = { registry: host.host, region: host.region, awsError: name, ...(status === undefined ? {} : { status }) };
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError' || /could not load credentials/i.test(message)) {
    return configError('ECR_CREDENTIALS_MISSING', `no usable AWS credentials for ${what}: ${message}`, {
      cause: e,
      details,
      suggestions: CREDENTIALS_HELP,
    });
  }
  if (REJECTED.has(name)) {
    return authError('ECR_CREDENTIALS_REJECTED', `AWS rejected the credentials for ${what} (${name})`, {
      cause: e,
      details,
      suggestions: ['the credentials are wrong or have expired: renew them (for SSO, `aws sso login`)', ...CREDENTIALS_HELP.slice(0, 1)],
    });
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
    return authError('ECR_ACCESS_DENIED', `AWS denied ${what} (${name || status})`, {
      cause: e,
      details,
      suggestions: [
        'the IAM identity needs ecr:GetAuthorizationToken, and on the repository ecr:DescribeRepositories, ecr:CreateRepository (when ferry creates it) and the push actions (ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:BatchCheckLayerAvailability, ecr:PutImage)',
        'check which identity is in use: `aws sts get-caller-identity`',
      ],
    });
  }
  if (THROTTLED.has(name) || status === 429) {
    return tempError('ECR_THROTTLED', `AWS kept throttling ${what} after retries`, {
      cause: e,
      details,
      suggestions: ['try again later; AWS_MAX_ATTEMPTS raises how often the SDK retries'],
    });
  }
  if (name === 'InvalidParameterException' || name === 'ValidationException') {
    return dataError('ECR_REQUEST_REJECTED', `ECR refused ${what}: ${message}`, { cause: e, details });
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (NETWORK.has(name) || (typeof code === 'string' && NETWORK.has(code)) || (status !== undefined && status >= 500)) {
    return unavailableError('ECR_UNAVAILABLE', `cannot reach the ECR API for ${what}: ${message}`, {
      cause: e,
      details,
      suggestions: ['check the network; AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_ECR, when set, must point at a reachable ECR API'],
    });
  }
  return unavailableError('ECR_REQUEST_FAILED', `${what} failed: ${name === '' ? message : `${name}: ${message}`}`, { cause: e, details });
}
