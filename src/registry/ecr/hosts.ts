/**
 * Amazon ECR private registries, told apart by their host name (no SDK here, so recognising a host
 * costs nothing and `ferry --help` never loads the AWS SDK). The forms AWS documents:
 *   <account>.dkr.ecr.<region>.amazonaws.com        (IPv4 endpoint)
 *   <account>.dkr.ecr-fips.<region>.amazonaws.com   (FIPS endpoint, some US regions)
 *   <account>.dkr.ecr.<region>.amazonaws.com.cn     (China regions)
 *   <account>.dkr-ecr.<region>.on.aws               (dual-stack IPv4/IPv6 endpoint; AWS's ECR user
 *                                                     guide, "Making requests to Amazon ECR registries")
 * ECR Public (public.ecr.aws) is another service with another API, and is not handled here.
 */

export interface EcrHost {
  /** The registry host as in references, lowercased. */
  host: string;
  /** The 12-digit AWS account id that owns the registry (the API's registryId). */
  account: string;
  /** The region the registry lives in: its API must be called in that region. */
  region: string;
  fips: boolean;
  dualStack: boolean;
}

const ECR_HOST_RE = /^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;
const ECR_DUALSTACK_RE = /^(\d{12})\.dkr-ecr\.([a-z0-9-]+)\.on\.aws$/;
/** Region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-7. */
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** The account and region of an ECR host, or undefined for any other registry. */
export function parseEcrHost(registry: string): EcrHost | undefined {
  const host = registry.toLowerCase();
  // A port makes it something else (a test registry, a proxy): ECR serves on 443 only.
  const m = ECR_HOST_RE.exec(host);
  if (m !== null) {
    const [, account = '', fips, region = '', cn] = m;
    if (!REGION_RE.test(region)) return undefined;
    // China regions (cn-*) live under amazonaws.com.cn, and only they do.
    if ((cn !== undefined) !== region.startsWith('cn-')) return undefined;
    return { host, account, region, fips: fips !== undefined, dualStack: false };
  }
  const d = ECR_DUALSTACK_RE.exec(host);
  if (d !== null) {
    const [, account = '', region = ''] = d;
    if (!REGION_RE.test(region)) return undefined;
    return { host, account, region, fips: false, dualStack: true };
  }
  return undefined;
}

export function isEcrHost(registry: string): boolean {
  return parseEcrHost(registry) !== undefined;
}

/** ECR's CreateRepository limits: 2 to 256 characters, lowercase path components. */
export const ECR_REPOSITORY_MIN = 2;
export const ECR_REPOSITORY_MAX = 256;
/** The pattern of CreateRepository's repositoryName, from the ECR API reference. */
const ECR_REPOSITORY_RE = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * Why `name` cannot be an ECR repository, or undefined when it can. Checked before any AWS call,
 * so a bad name costs no request and gets a message naming the rule.
 */
export function ecrRepositoryProblem(name: string): string | undefined {
  if (name.length < ECR_REPOSITORY_MIN) return `is ${name.length} character(s) long; ECR needs at least ${ECR_REPOSITORY_MIN}`;
  if (name.length > ECR_REPOSITORY_MAX) return `is ${name.length} characters long; ECR allows at most ${ECR_REPOSITORY_MAX}`;
  if (!ECR_REPOSITORY_RE.test(name)) {
    return 'is not a valid ECR repository name: lowercase letters, digits and . _ - between them, in path components separated by /';
  }
  return undefined;
}
