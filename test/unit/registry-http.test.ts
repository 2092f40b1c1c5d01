/**
 * The HTTP layer: retry policy, Retry-After, redirects, insecure refusal, error codes. Exercised
 * against small real HTTP servers on loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  HttpClient,
  isTransientError,
  isTransientStatus,
  loggableUrl,
  parseRetryAfter,
  retryDelay,
  type HttpEvent,
} from '../../src/infra/http.js';
import { caught } from '../helpers/errors.js';

const servers: Server[] = [];
const clients: HttpClient[] = [];

async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<string> {
  let n = 0;
  const s = createServer((req, res) => {
    n++;
    handler(req, res, n);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => {
    r();
  }));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function client(extra: ConstructorParameters<typeof HttpClient>[0] = {}): { c: HttpClient; sleeps: number[] } {
  const sleeps: number[] = [];
  const c = new HttpClient({
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    ...extra,
  });
  clients.push(c);
  return { c, sleeps };
}


afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => {
      r();
    }));
  }
});

describe('retry policy', () => {
  it('knows which statuses are transient', () => {
    for (const s of [408, 429, 500, 502, 503, 504, 599]) expect(isTransientStatus(s)).toBe(true);
    for (const s of [200, 201, 301, 400, 401, 403, 404, 409, 501, 505]) expect(isTransientStatus(s)).toBe(false);
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, p, () => 1)).toBe(100);
    expect(backoffDelay(2, p, () => 1)).toBe(400);
    expect(backoffDelay(10, p, () => 1)).toBe(1000);
    expect(backoffDelay(2, p, () => 0)).toBe(40);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, p);
      expect(d).toBeGreaterThanOrEqual(80);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('prefers Retry-After, capped by the policy', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxRetryAfterMs: 5000 };
    expect(retryDelay(0, p, 2000)).toBe(2000);
    expect(retryDelay(0, p, 3_600_000)).toBe(5000);
  });
});

describe('HttpClient', () => {
  it('retries 5xx and re-creates the body each time', async () => {
    const bodies: string[] = [];
    const url = await serve((req, res, n) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.writeHead(n < 3 ? 503 : 201);
        res.end();
      });
    });
    const { c, sleeps } = client();
    let made = 0;
    const res = await c.request({
      method: 'PUT',
      url,
      body: () => {
        made++;
        return `payload-${made}`;
      },
      allowInsecure: true,
    });
    expect(res.status).toBe(201);
    expect(made).toBe(3);
    expect(bodies).toEqual(['payload-1', 'payload-2', 'payload-3']);
    expect(c.stats.requests).toBe(3);
    expect(c.stats.retries).toBe(2);
    expect(sleeps).toHaveLength(2);
  });

  it('honours Retry-After on 429', async () => {
    const url = await serve((_req, res, n) => {
      if (n === 1) res.writeHead(429, { 'retry-after': '2' });
      else res.writeHead(200);
      res.end('ok');
    });
    const { c, sleeps } = client();
    const res = await c.request({ method: 'GET', url, allowInsecure: true });
    expect(await res.text()).toBe('ok');
    expect(sleeps).toEqual([2000]);
  });

  it('gives up after the attempts with HTTP_RETRIES_EXHAUSTED (75)', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    const { c } = client({ retry: { attempts: 4 } });
    const err = await caught(c.request({ method: 'GET', url, allowInsecure: true }));
    expect(err.code).toBe('HTTP_RETRIES_EXHAUSTED');
    expect(err.exitCode).toBe(75);
    expect(err.details?.status).toBe(500);
    expect(err.cause).toBeInstanceOf(FerryError);
    expect(isTransientError(err)).toBe(false);
    expect(c.stats.requests).toBe(4);
  });

  it('does not retry when told the body cannot be made again, and flags the failure transient', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    const { c } = client();
    const err = await caught(c.request({ method: 'PATCH', url, body: () => 'x', retry: false, allowInsecure: true }));
    expect(err.code).toBe('HTTP_TRANSIENT_FAILURE');
    expect(isTransientError(err)).toBe(true);
    expect(c.stats.requests).toBe(1);
  });

  it('retries a connection reset', async () => {
    const url = await serve((req, res, n) => {
      if (n === 1) {
        req.socket.destroy();
        return;
      }
      res.end('fine');
    });
    const { c } = client();
    const res = await c.request({ method: 'GET', url, allowInsecure: true });
    expect(await res.text()).toBe('fine');
    expect(c.stats.retries).toBe(1);
  });

  it('returns other statuses to the caller', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(404);
      res.end('{"errors":[]}');
    });
    const { c } = client();
    const res = await c.request({ method: 'GET', url, allowInsecure: true });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ errors: [] });
  });

  it('follows GET redirects, dropping Authorization when the origin changes', async () => {
    const seen: (string | undefined)[] = [];
    const cdn = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob-bytes');
    });
    const origin = await serve((req, res) => {
      if (req.url === '/same') {
        res.writeHead(307, { location: '/final' });
        res.end();
        return;
      }
      if (req.url === '/final') {
        seen.push(req.headers.authorization);
        res.end('same-origin');
        return;
      }
      res.writeHead(307, { location: `${cdn}/blob?X-Amz-Signature=abc` });
      res.end();
    });
    const { c } = client();
    const res = await c.request({ method: 'GET', url: `${origin}/v2/x/blobs/sha256:1`, headers: { authorization: 'Bearer sekrit-token-123' }, allowInsecure: true });
    expect(await res.text()).toBe('blob-bytes');
    expect(res.url.origin).toBe(cdn);
    const same = await c.request({ method: 'GET', url: `${origin}/same`, headers: { authorization: 'Bearer sekrit-token-123' }, allowInsecure: true });
    expect(await same.text()).toBe('same-origin');
    expect(seen).toEqual([undefined, 'Bearer sekrit-token-123']);
  });

  it('does not follow redirects of other methods', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(307, { location: '/elsewhere' });
      res.end();
    });
    const { c } = client();
    const res = await c.request({ method: 'POST', url, allowInsecure: true });
    expect(res.status).toBe(307);
  });

  it('refuses plain http unless the host is marked insecure (78)', async () => {
    const { c } = client();
    const err = await caught(c.request({ method: 'GET', url: 'http://127.0.0.1:9/v2/' }));
    expect(err.code).toBe('HTTP_INSECURE_REFUSED');
    expect(err.exitCode).toBe(78);
    expect(c.stats.requests).toBe(0);
  });

  it('reports a refused connection as unavailable (69), without retrying', async () => {
    const url = await serve(() => undefined);
    const port = new URL(url).port;
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => {
      r();
    }));
    const { c } = client();
    const err = await caught(c.request({ method: 'GET', url: `http://127.0.0.1:${port}/`, allowInsecure: true }));
    expect(err.code).toBe('HTTP_CONNECTION_REFUSED');
    expect(err.exitCode).toBe(69);
    expect(c.stats.requests).toBe(1);
  });

  it('bounds bodies it reads whole', async () => {
    const url = await serve((_req, res) => {
      res.end('x'.repeat(5000));
    });
    const { c } = client();
    const res = await c.request({ method: 'GET', url, allowInsecure: true });
    const err = await caught(res.bytes(1000));
    expect(err.code).toBe('HTTP_BODY_TOO_LARGE');
  });

  it('reports requests through a callback, with credentials redacted', async () => {
    const url = await serve((_req, res) => {
      res.end();
    });
    const events: HttpEvent[] = [];
    const { c } = client({ onEvent: (e) => events.push(e) });
    await (await c.request({ method: 'GET', url: `${url}/p?token=abcdef123&x=1`, headers: { authorization: 'Basic dXNlcjpwYXNzd29yZA==' }, allowInsecure: true })).dump();
    expect(events).toHaveLength(1);
    expect(events[0]?.status).toBe(200);
    expect(events[0]?.requestHeaders.authorization).toBe('Basic ***');
    expect(JSON.stringify(events)).not.toContain('dXNlcjpwYXNzd29yZA');
    expect(JSON.stringify(events)).not.toContain('abcdef123');
    expect(loggableUrl(new URL('https://u:p@h/x?sig=1&a=2'))).toBe('https://h/x?sig=***&a=2');
  });
});
