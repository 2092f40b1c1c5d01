/**
 * What every AWS SDK client's errors have in common, for the adapters that map them to coded
 * FerryErrors (each keeps its own codes: ECR_*, BATCH_*, …). No SDK import here.
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
