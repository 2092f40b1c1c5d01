import type { Reporter } from '../core/context.js';
import { normalizeRegistryHost } from '../core/image-ref.js';
import { HttpClient } from '../infra/http.js';
import { RegistryClient } from '../registry/client.js';
import { resolveCredentials } from '../registry/credentials.js';
import { parseEcrHost } from '../registry/ecr/hosts.js';
import { EcrRegistry } from '../registry/ecr/registry.js';
import type { RegistryPool } from '../builders/native/builder.js';
import type { FerryConfigParsed } from '../config/schema.js';

export interface RegistryPoolOptions {
  registries: FerryConfigParsed['registries'];
  /** --username/--password-stdin: credentials for this one registry (the push destination). */
  explicit?: { registry: string; username: string; password: string } | undefined;
  concurrency?: number;
  reporter: Reporter;
  env: NodeJS.ProcessEnv;
}

/**
 * One registry client per host for the whole command, sharing one HTTP connection pool (and so one
 * request count, which `push --json` reports). TLS is always verified, except for hosts the user
 * named insecure in ferry.yaml, FERRY_INSECURE_REGISTRIES or --insecure-registry.
 */
export class SharedRegistryPool implements RegistryPool {
  readonly http: HttpClient;
  private readonly clients = new Map<string, RegistryClient>();
  private readonly ecr = new Map<string, EcrRegistry>();

  constructor(private readonly opts: RegistryPoolOptions) {
    this.http = new HttpClient({
      userAgent: 'ferry',
      onEvent: (e) => {
        opts.reporter.debug(`${e.method} ${e.url} → ${e.status ?? e.error ?? '?'} (${Math.round(e.durationMs)} ms, attempt ${e.attempt})`);
      },
    });
  }

  client(registry: string): RegistryClient {
    const host = normalizeRegistryHost(registry);
    let c = this.clients.get(host);
    if (c === undefined) {
      const settings = this.opts.registries[host] ?? this.opts.registries[registry];
      const explicit = this.opts.explicit !== undefined && normalizeRegistryHost(this.opts.explicit.registry) === host ? this.opts.explicit : undefined;
      const endpoint = settings?.endpoint === undefined ? undefined : new URL(settings.endpoint);
      const ecr = explicit === undefined ? this.ecrRegistry(host) : undefined;
      c = new RegistryClient(host, {
        // An http:// endpoint was asked for in so many words: plain HTTP to it is intended.
        insecure: (settings?.insecure ?? false) || endpoint?.protocol === 'http:',
        ...(endpoint === undefined ? {} : { endpoint }),
        http: this.http,
        credentialOptions: {
          env: this.opts.env,
          ...(explicit !== undefined ? { explicit: { username: explicit.username, password: explicit.password } } : {}),
          ...(ecr === undefined ? {} : { ecr }),
        },
        ...(this.opts.concurrency !== undefined ? { concurrency: this.opts.concurrency } : {}),
      });
      this.clients.set(host, c);
    }
    return c;
  }

  /**
   * Credentials ferry itself has for `registry` through its ECR support, to hand to a container
   * engine that pulls from it: the same resolution a pull by ferry makes (flags for the push
   * destination, then GetAuthorizationToken, then the docker config when AWS has no credentials).
   * Undefined for any host that is not ECR (the engine reads the user's own files for those). A
   * token that cannot be had throws the ECR_* error.
   */
  async engineCredential(registry: string): Promise<{ username: string; password: string; source: string } | undefined> {
    const host = normalizeRegistryHost(registry);
    if (parseEcrHost(host) === undefined) return undefined;
    const explicit = this.opts.explicit !== undefined && normalizeRegistryHost(this.opts.explicit.registry) === host ? this.opts.explicit : undefined;
    const ecr = explicit === undefined ? this.ecrRegistry(host) : undefined;
    const r = await resolveCredentials(host, {
      env: this.opts.env,
      ...(explicit !== undefined ? { explicit: { username: explicit.username, password: explicit.password } } : {}),
      ...(ecr === undefined ? {} : { ecr }),
    });
    if (r.credential.kind !== 'basic') return undefined;
    return { username: r.credential.username, password: r.credential.password, source: r.source };
  }

  /**
   * Credentials a platform can pull `registry`'s images with (a Kubernetes image pull Secret): the
   * ECR token as for an engine, else what the user's docker or containers auth files hold for the
   * host. Undefined when ferry has only anonymous access or a token it cannot hand on.
   */
  async pullCredential(registry: string): Promise<{ username: string; password: string; source: string; expiresAt?: Date } | undefined> {
    const host = normalizeRegistryHost(registry);
    if (parseEcrHost(host) !== undefined) {
      const c = await this.engineCredential(host);
      // ECR tokens last 12 hours from now (GetAuthorizationToken's expiresAt, at most).
      return c === undefined ? undefined : { ...c, expiresAt: new Date(Date.now() + 12 * 3600_000) };
    }
    const r = await resolveCredentials(host, { env: this.opts.env });
    if (r.credential.kind !== 'basic') return undefined;
    return { username: r.credential.username, password: r.credential.password, source: r.source };
  }

  /**
   * Before pushing to `repository`: on an ECR host, create it when missing (ECR, unlike most
   * registries, does not create repositories on push). Elsewhere, nothing to do.
   */
  async prepareRepository(registry: string, repository: string): Promise<void> {
    await this.ecrRegistry(normalizeRegistryHost(registry))?.ensureRepository(repository);
  }

  private ecrRegistry(host: string): EcrRegistry | undefined {
    let r = this.ecr.get(host);
    if (r !== undefined) return r;
    const parsed = parseEcrHost(host);
    if (parsed === undefined) return undefined;
    const settings = this.opts.registries[host]?.ecr;
    r = new EcrRegistry(parsed, {
      createRepository: settings?.createRepository ?? true,
      tagImmutability: settings?.tagImmutability ?? false,
      scanOnPush: settings?.scanOnPush ?? false,
      debug: (line) => {
        this.opts.reporter.debug(line);
      },
    });
    this.ecr.set(host, r);
    return r;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
