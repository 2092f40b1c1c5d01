/**
 * The only file that talks to the AWS SDK's Lambda client. The adapter imports it lazily, and it
 * imports the SDK lazily itself, so commands that never reach Lambda never load it.
 *
 * Credentials, region and endpoint follow the SDK's own rules: the default credential chain, the
 * region from AWS_REGION / AWS_DEFAULT_REGION / the profile, and endpoint overrides through
 * AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_LAMBDA (which the SDK reads itself). Throttling is retried by
 * the SDK (standard retry mode; AWS_MAX_ATTEMPTS and AWS_RETRY_MODE tune it) except for Invoke:
 * an SDK retry after a lost answer would run the function a second time, so Invoke is sent once
 * and the adapter retries it only when Lambda says it did not run it (TooManyRequestsException).
 *
 * Waiting uses the SDK's waiters (waitUntilFunctionActiveV2, waitUntilFunctionUpdatedV2), which
 * poll GetFunction with backoff: never fixed sleeps.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { authError, configError, dataError, type FerryError, tempError, unavailableError } from '../../core/errors.js';
import { registerSecret } from '../../infra/redact.js';
import { awsName, CREDENTIALS_HELP, NETWORK, REJECTED, THROTTLED } from '../../infra/aws-errors.js';
import type { FunctionConfiguration } from './preflight.js';
import type { FunctionSettings, UpdateCodeInput, UpdateConfigurationInput } from './payload.js';

/** Where a request's failure points in ferry.yaml, for coded errors. */
export interface LambdaWhere {
  file: string;
  target: string;
  functionName: string;
  /** The region a handle recorded: status and invoke ask there, whatever AWS_REGION says now. */
  region?: string | undefined;
}

/** A function as GetFunction answers it: only what ferry reads. */
export interface FunctionState {
  configuration: FunctionSettings;
  /** Code.ImageUri: the image the function was last given. */
  imageUri?: string | undefined;
}

/** How a wait ended when it did not end well: the function's state then, in Lambda's words. */
export interface WaitOutcome {
  ok: boolean;
  state?: string | undefined;
  reason?: string | undefined;
}

export interface InvokeOutput {
  statusCode: number;
  functionError?: string | undefined;
  executedVersion?: string | undefined;
  payload: Uint8Array;
  /** Base64 of the last 4 KB of the invocation's log (LogType Tail). */
  logResult?: string | undefined;
}

/** What ferry asks of the Lambda API. Tests may supply their own. */
export interface LambdaApi {
  /** The region the SDK resolved (no API call): where the function is. */
  region(): Promise<string>;
  /** undefined when the function does not exist. */
  getFunction(name: string): Promise<FunctionState | undefined>;
  createFunction(input: FunctionConfiguration): Promise<FunctionSettings>;
  updateFunctionCode(input: UpdateCodeInput): Promise<FunctionSettings>;
  updateFunctionConfiguration(input: UpdateConfigurationInput): Promise<FunctionSettings>;
  /** Until State is Active (waitUntilFunctionActiveV2). */
  waitActive(name: string): Promise<WaitOutcome>;
  /** Until LastUpdateStatus is Successful (waitUntilFunctionUpdatedV2). */
  waitUpdated(name: string): Promise<WaitOutcome>;
  publishVersion(name: string): Promise<{ version: string; arn: string }>;
  /** undefined when the alias does not exist. */
  getAlias(name: string, alias: string): Promise<{ functionVersion: string } | undefined>;
  createAlias(name: string, alias: string, version: string): Promise<{ aliasArn: string }>;
  updateAlias(name: string, alias: string, version: string): Promise<{ aliasArn: string }>;
  /** Sent once (no SDK retries): see the file comment. */
  invoke(name: string, qualifier: string | undefined, payload: Uint8Array | undefined): Promise<InvokeOutput>;
}

/** How long a waiter polls before giving up: image functions take minutes to become Active. */
const WAIT_SECONDS = 900;

export async function createLambdaApi(where: LambdaWhere): Promise<LambdaApi> {
  // The SDK is CommonJS for Node: Node gives named exports, the bundle only the default export.
  const mod = (await import('@aws-sdk/client-lambda')) as typeof import('@aws-sdk/client-lambda') & { default?: typeof import('@aws-sdk/client-lambda') };
  const sdk = mod.default ?? mod;
  const pinned = where.region === undefined ? {} : { region: where.region };
  const client: LambdaClient = new sdk.LambdaClient({ ...pinned });
  const once: LambdaClient = new sdk.LambdaClient({ ...pinned, maxAttempts: 1 });
  let secretsKnown = false;
  const ensureSecrets = async (): Promise<void> => {
    if (secretsKnown) return;
    // Registered for redaction before the first request, so no --debug line can print them.
    const creds = await client.config.credentials();
    registerSecret(creds.secretAccessKey);
    registerSecret(creds.sessionToken);
    secretsKnown = true;
  };
  const send = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      await ensureSecrets();
      return await op();
    } catch (e) {
      throw lambdaError(e, what, where);
    }
  };
  const notFound = (e: unknown): boolean => awsName(e) === 'ResourceNotFoundException';

  /** After a waiter gave up: the function's state now, or a coded error for a timeout. */
  const waited = async (what: string, name: string, run: () => Promise<unknown>): Promise<WaitOutcome> => {
    await send(what, () => Promise.resolve());
    try {
      await run();
      return { ok: true };
    } catch (e) {
      // The waiter's own error quotes GetFunction's whole answer (environment included): it is not
      // passed on. The function's state, read again, says what happened.
      const now = await send(`GetFunction ${name}`, () => client.send(new sdk.GetFunctionCommand({ FunctionName: name }))).catch(() => undefined);
      const c = now?.Configuration;
      if (c?.State === 'Failed' || c?.LastUpdateStatus === 'Failed') {
        return { ok: false, state: c.State === 'Failed' ? 'Failed' : 'LastUpdateStatus Failed', reason: c.StateReason ?? c.LastUpdateStatusReason ?? c.LastUpdateStatusReasonCode };
      }
      throw tempError('LAMBDA_WAIT_TIMEOUT', `${what}: the function ${name} was not ready after ${WAIT_SECONDS / 60} minutes (State ${c?.State ?? '?'}, LastUpdateStatus ${c?.LastUpdateStatus ?? '?'})`, {
        // Not even as the cause: a waiter's error message can hold GetFunction's answer, environment
        // values included, and --debug prints causes. Its name says enough.
        details: { target: where.target, operation: 'GetFunction', state: c?.State, lastUpdateStatus: c?.LastUpdateStatus, waiterError: awsName(e) },
        suggestions: [`see its state: aws lambda get-function --function-name ${name}`, 'run ferry deploy again once it is ready'],
      });
    }
  };
  const waiter = { client, maxWaitTime: WAIT_SECONDS, minDelay: 1, maxDelay: 15 };

  return {
    async region() {
      try {
        const r = await client.config.region();
        if (r === '') throw new Error('Region is missing');
        return r;
      } catch (e) {
        throw lambdaError(e, 'resolving the AWS region', where);
      }
    },
    async getFunction(name) {
      try {
        await ensureSecrets();
        const out = await client.send(new sdk.GetFunctionCommand({ FunctionName: name }));
        return { configuration: (out.Configuration ?? {}), imageUri: out.Code?.ImageUri };
      } catch (e) {
        if (notFound(e)) return undefined;
        throw lambdaError(e, `GetFunction ${name}`, where);
      }
    },
    async createFunction(input) {
      const out = await send(`CreateFunction ${input.FunctionName}`, () => client.send(new sdk.CreateFunctionCommand(input)));
      return out;
    },
    async updateFunctionCode(input) {
      const out = await send(`UpdateFunctionCode ${input.FunctionName}`, () => client.send(new sdk.UpdateFunctionCodeCommand(input)));
      return out;
    },
    async updateFunctionConfiguration(input) {
      const out = await send(`UpdateFunctionConfiguration ${input.FunctionName}`, () => client.send(new sdk.UpdateFunctionConfigurationCommand(input)));
      return out;
    },
    waitActive(name) {
      return waited(`waiting for ${name} to be Active`, name, () => sdk.waitUntilFunctionActiveV2(waiter, { FunctionName: name }));
    },
    waitUpdated(name) {
      return waited(`waiting for the update of ${name}`, name, () => sdk.waitUntilFunctionUpdatedV2(waiter, { FunctionName: name }));
    },
    async publishVersion(name) {
      const out = await send(`PublishVersion ${name}`, () => client.send(new sdk.PublishVersionCommand({ FunctionName: name })));
      if (out.Version === undefined) throw unavailableError('LAMBDA_REQUEST_FAILED', `PublishVersion ${name} answered no version`, { details: { operation: 'PublishVersion' } });
      return { version: out.Version, arn: out.FunctionArn ?? '' };
    },
    async getAlias(name, alias) {
      try {
        await ensureSecrets();
        const out = await client.send(new sdk.GetAliasCommand({ FunctionName: name, Name: alias }));
        return { functionVersion: out.FunctionVersion ?? '' };
      } catch (e) {
        if (notFound(e)) return undefined;
        throw lambdaError(e, `GetAlias ${name}:${alias}`, where);
      }
    },
    async createAlias(name, alias, version) {
      const out = await send(`CreateAlias ${name}:${alias}`, () => client.send(new sdk.CreateAliasCommand({ FunctionName: name, Name: alias, FunctionVersion: version })));
      return { aliasArn: out.AliasArn ?? '' };
    },
    async updateAlias(name, alias, version) {
      const out = await send(`UpdateAlias ${name}:${alias}`, () => client.send(new sdk.UpdateAliasCommand({ FunctionName: name, Name: alias, FunctionVersion: version })));
      return { aliasArn: out.AliasArn ?? '' };
    },
    async invoke(name, qualifier, payload) {
      const out = await send(`Invoke ${name}${qualifier === undefined ? '' : `:${qualifier}`}`, () =>
        once.send(
          new sdk.InvokeCommand({
            FunctionName: name,
            ...(qualifier === undefined ? {} : { Qualifier: qualifier }),
            InvocationType: 'RequestResponse',
            LogType: 'Tail',
            ...(payload === undefined ? {} : { Payload: payload }),
          }),
        ),
      );
      return {
        statusCode: out.StatusCode ?? 0,
        functionError: out.FunctionError,
        executedVersion: out.ExecutedVersion,
        payload: out.Payload ?? new Uint8Array(),
        logResult: out.LogResult,
      };
    },
  };
}

/** An SDK failure as a FerryError with a code; the SDK error stays as its cause (shown with --debug). */
export function lambdaError(e: unknown, what: string, where: LambdaWhere): FerryError {
  const name = awsName(e);
  const message = e instanceof Error ? e.message : String(e);
  const meta = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  const status = meta?.httpStatusCode;
  const details = { target: where.target, operation: what.split(' ')[0], awsError: name, ...(status === undefined ? {} : { status }) };
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError' || /could not load credentials/i.test(message)) {
    return configError('LAMBDA_CREDENTIALS_MISSING', `no usable AWS credentials for ${what}: ${message}`, { cause: e, details, suggestions: CREDENTIALS_HELP });
  }
  if (/region is missing/i.test(message)) {
    return configError('LAMBDA_REGION_MISSING', `no AWS region for ${what}`, {
      cause: e,
      details,
      suggestions: ['set AWS_REGION (or region in your AWS profile) to the region of the function and of its ECR repository'],
    });
  }
  if (REJECTED.has(name)) {
    return authError('LAMBDA_CREDENTIALS_REJECTED', `AWS rejected the credentials for ${what} (${name})`, {
      cause: e,
      details,
      suggestions: ['the credentials are wrong or have expired: renew them (for SSO, `aws sso login`)', ...CREDENTIALS_HELP.slice(0, 1)],
    });
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
    return authError('LAMBDA_ACCESS_DENIED', `AWS denied ${what} (${name || String(status)})`, {
      cause: e,
      details,
      suggestions: [
        'the IAM identity needs lambda:GetFunction, lambda:CreateFunction, lambda:UpdateFunctionCode, lambda:UpdateFunctionConfiguration, lambda:PublishVersion, lambda:GetAlias, lambda:CreateAlias, lambda:UpdateAlias, lambda:InvokeFunction, lambda:TagResource, and iam:PassRole for the function role',
        'check which identity is in use: `aws sts get-caller-identity`',
      ],
    });
  }
  // Lambda answers 409 while an update of the function is in progress (or, for CreateFunction,
  // when it exists already); the adapter waits for the update and tries again.
  if (name === 'ResourceConflictException') {
    return tempError('LAMBDA_UPDATE_CONFLICT', `${what}: ${message}`, {
      cause: e,
      details,
      suggestions: ['another update of the function is in progress: wait for it (aws lambda wait function-updated-v2) and deploy again'],
    });
  }
  if (THROTTLED.has(name) || status === 429) {
    return tempError('LAMBDA_THROTTLED', `AWS kept throttling ${what} after retries`, {
      cause: e,
      details,
      suggestions: ['try again later; AWS_MAX_ATTEMPTS raises how often the SDK retries'],
    });
  }
  if (name === 'InvalidParameterValueException' || name === 'ValidationException' || name === 'ResourceNotFoundException' || name === 'RequestTooLargeException') {
    return dataError('LAMBDA_REQUEST_REJECTED', `Lambda refused ${what}: ${message}`, {
      cause: e,
      details,
      suggestions: ['read the message and fix the value in ferry.yaml (for a role: it must exist and trust lambda.amazonaws.com)'],
    });
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (NETWORK.has(name) || (typeof code === 'string' && NETWORK.has(code)) || (status !== undefined && status >= 500)) {
    return unavailableError('LAMBDA_UNAVAILABLE', `cannot reach the Lambda API for ${what}: ${message}`, {
      cause: e,
      details,
      suggestions: ['check the network; AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_LAMBDA, when set, must point at a reachable Lambda API'],
    });
  }
  return unavailableError('LAMBDA_REQUEST_FAILED', `${what} failed: ${name === '' ? message : `${name}: ${message}`}`, { cause: e, details });
}
