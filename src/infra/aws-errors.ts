/**
 * What every AWS SDK client's errors have in common, for the adapters that map them to coded
 * FerryErrors (each keeps its own codes: ECR_*, BATCH_*, …), and the redaction of the credentials
 * their chains find. No SDK import here.
 */

/** The AWS error name (ThrottlingException, AccessDeniedException, …) or network code, if any. */
export function awsName(e: unknown): string {
  if (typeof e !== 'object' || e === null) return '';
  const o = e as { name?: unknown; Code?: unknown; code?: unknown };
  return typeof o.name === 'string' ? o.name : typeof o.Code === 'string' ? o.Code : typeof o.code === 'string' ? o.code : '';
}

export const CREDENTIALS_HELP = [
  'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)',
  'or use a profile: `aws configure --profile NAME` (or `aws sso login --profile NAME`), then AWS_PROFILE=NAME',
  'on EC2, ECS or EKS, attach a role to the instance, task or service account',
];

/** Credentials AWS refused (wrong, expired). */
export const REJECTED = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidAccessKeyId',
]);
export const THROTTLED = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded', 'ThrottledException']);
export const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'TimeoutError', 'EPIPE']);

/** What every SDK v3 client has: its resolved credential provider. */
interface WithCredentials {
  config: { credentials: () => Promise<{ secretAccessKey: string; sessionToken?: string | undefined }> };
}

/**
 * Registers whatever credentials the SDK's chain found (env, profile, SSO, IMDS) for redaction,
 * once per client and before its first request, so no later message or --debug line can print
 * them. Call the returned function before each request; resolving the chain can fail, and that
 * failure is the request's own (mapped to a coded error by the caller).
 */
export function redactCredentialsOf(client: WithCredentials, register: (secret: string | undefined) => void): () => Promise<void> {
  let known = false;
  return async () => {
    if (known) return;
    const creds = await client.config.credentials();
    register(creds.secretAccessKey);
    register(creds.sessionToken);
    known = true;
  };
}
