/**
 * An HTTP proxy on loopback in front of a test registry that injects faults, per rule:
 *   - reset: forward the request, but after N bytes of its body destroy both connections (a
 *     connection reset mid-blob, with the registry having seen part of the data);
 *   - status: answer a status (429 with Retry-After, 500, 503…) without forwarding;
 *   - drop-response: forward the request, let the upstream answer, then close the client's
 *     connection without passing the answer on (a lost response: the upstream did the work).
 * Rules match on method, path and, for AWS JSON APIs in front of moto, the X-Amz-Target operation.
 * Each rule fires a bounded number of times. The Host header is forwarded unchanged, so the
 * registry's Location headers point back at the proxy. The proxy stops by itself after `lifetimeMs`.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultAction =
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'drop-response' };

export interface FaultRule {
  /** Which requests: method (any when absent) and a pattern on the path+query. */
  method?: string;
  path?: RegExp;
  /** A pattern on the X-Amz-Target header (which AWS JSON API operation: "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"). */
  target?: RegExp;
  action: FaultAction;
  /** How many times the rule fires (default 1). Infinity for "always". */
  times?: number;
  /** Skip this many matching requests before firing (default 0). */
  skip?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The X-Amz-Target header, for AWS API requests. */
  target?: string;
  status?: number | undefined;
  fault?: FaultAction['kind'];
}

export interface FaultProxy {
  host: string;
  url: string;
  /** Every request seen, with the fault applied (if any). */
  requests: ProxiedRequest[];
  /** How often each rule fired, by index. */
  fired: number[];
  setRules(rules: FaultRule[]): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: FaultRule[] = [], lifetimeMs = 300_000): Promise<FaultProxy> {
  const target = new URL(upstream);
  let active = rules;
  let fired = rules.map(() => 0);
  let seen = rules.map(() => 0);
  const requests: ProxiedRequest[] = [];

  const pick = (req: IncomingMessage): number => {
    for (const [i, r] of active.entries()) {
      if (r.method !== undefined && r.method !== req.method) continue;
      if (r.path !== undefined && !r.path.test(req.url ?? '')) continue;
      if (r.target !== undefined && !r.target.test(String(req.headers['x-amz-target'] ?? ''))) continue;
      seen[i] = (seen[i] ?? 0) + 1;
      if ((seen[i] ?? 0) <= (r.skip ?? 0)) continue;
      if ((fired[i] ?? 0) >= (r.times ?? 1)) continue;
      fired[i] = (fired[i] ?? 0) + 1;
      return i;
    }
    return -1;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const amzTarget = req.headers['x-amz-target'];
    const entry: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', ...(typeof amzTarget === 'string' ? { target: amzTarget } : {}) };
    requests.push(entry);
    const i = pick(req);
    const action = i === -1 ? undefined : active[i]?.action;
    if (action?.kind === 'status') {
      entry.fault = 'status';
      entry.status = action.status;
      // Drain what the client sends, then answer; closing the connection keeps state simple.
      req.resume();
      req.on('end', () => {
        res.writeHead(action.status, { 'content-type': 'application/json', connection: 'close', ...action.headers });
        res.end(action.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
      });
      return;
    }
    const up = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        entry.status = upRes.statusCode;
        if (action?.kind === 'drop-response') {
          entry.fault = 'drop-response';
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else res.destroy();
    });
    if (action?.kind === 'reset') {
      entry.fault = 'reset';
      let sent = 0;
      let cut = false;
      req.on('data', (chunk: Buffer) => {
        if (cut) return;
        const room = action.afterBytes - sent;
        if (chunk.length >= room) {
          cut = true;
          if (room > 0) up.write(chunk.subarray(0, room));
          // Let the partial data reach the registry, then drop both sides.
          setTimeout(() => {
            up.destroy();
            req.socket.destroy();
          }, 20);
          return;
        }
        sent += chunk.length;
        up.write(chunk);
      });
      req.on('end', () => {
        if (!cut) up.end();
      });
      return;
    }
    req.pipe(up);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      clearTimeout(timer);
      server.closeAllConnections();
      server.close(() => { resolve(); });
    });
  // Bounded: a forgotten proxy goes away by itself.
  const timer = setTimeout(() => void stop(), lifetimeMs);
  timer.unref();
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    get fired() {
      return fired;
    },
    setRules(r: FaultRule[]) {
      active = r;
      fired = r.map(() => 0);
      seen = r.map(() => 0);
    },
    stop,
  };
}
