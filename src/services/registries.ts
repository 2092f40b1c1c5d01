import type { Reporter } from '../core/context.js';
import { normalizeRegistryHost } from '../core/image-ref.js';
import { HttpClient } from '../infra/http.js';
import { RegistryClient } from '../registry/client.js';
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
      c = new RegistryClient(host, {
        insecure: settings?.insecure ?? false,
        http: this.http,
        credentialOptions: {
          env: this.opts.env,
          ...(explicit !== undefined ? { explicit: { username: explicit.username, password: explicit.password } } : {}),
        },
        ...(this.opts.concurrency !== undefined ? { concurrency: this.opts.concurrency } : {}),
      });
      this.clients.set(host, c);
    }
    return c;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
