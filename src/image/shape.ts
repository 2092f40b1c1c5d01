/**
 * Small shape checks for untrusted JSON (registry manifests, configs, cache files). Each failure
 * names the JSON path that is wrong, so "layers[3].digest is not a valid digest" reaches the user
 * instead of a TypeError three modules later. Internal to src/image.
 */
import { dataError } from '../core/errors.js';
import { Digest, type DigestString } from './digest.js';

export type JsonObject = Record<string, unknown>;

export class ShapeChecker {
  constructor(
    readonly code: string,
    readonly what: string,
    readonly where?: string,
  ) {}

  fail(path: string, message: string): never {
    throw dataError(this.code, `${this.what}: ${path === '' ? 'the document' : path} ${message}`, {
      ...(this.where === undefined ? {} : { where: this.where }),
      details: { path },
    });
  }

  decodeJson(bytes: Uint8Array | string, maxBytes?: number): unknown {
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    if (maxBytes !== undefined && size > maxBytes) {
      this.fail('', `is ${size} bytes, more than the ${maxBytes} allowed`);
    }
    const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw dataError(this.code, `${this.what} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, {
        ...(this.where === undefined ? {} : { where: this.where }),
        cause: e,
      });
    }
  }

  object(v: unknown, path: string): JsonObject {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, `must be an object, not ${describe(v)}`);
    return v as JsonObject;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `must be a string, not ${describe(v)}`);
    return v;
  }

  nonEmptyString(v: unknown, path: string): string {
    const s = this.string(v, path);
    if (s === '') this.fail(path, 'must not be empty');
    return s;
  }

  /** A JSON null counts as absent: Docker writes `"Cmd": null` where OCI omits the key. */
  optString(v: unknown, path: string): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, path);
  }

  optBoolean(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(path, `must be true or false, not ${describe(v)}`);
    return v;
  }

  /** A non-negative safe integer (sizes, counts, durations in ns). */
  count(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(path, `must be a non-negative integer, not ${describe(v)}`);
    return v;
  }

  optCount(v: unknown, path: string): number | undefined {
    return v === undefined || v === null ? undefined : this.count(v, path);
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be an array, not ${describe(v)}`);
    return v as unknown[];
  }

  stringArray(v: unknown, path: string): string[] {
    return this.array(v, path).map((x, i) => this.string(x, `${path}[${i}]`));
  }

  optStringArray(v: unknown, path: string): string[] | undefined {
    return v === undefined || v === null ? undefined : this.stringArray(v, path);
  }

  stringMap(v: unknown, path: string): Record<string, string> {
    const o = this.object(v, path);
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(o)) out[k] = this.string(x, `${path}[${JSON.stringify(k)}]`);
    return out;
  }

  optStringMap(v: unknown, path: string): Record<string, string> | undefined {
    return v === undefined || v === null ? undefined : this.stringMap(v, path);
  }

  /** Docker's set-as-map: `{"80/tcp": {}}`. Values are ignored but must be objects (or null). */
  optSet(v: unknown, path: string): Record<string, Record<string, never>> | undefined {
    if (v === undefined || v === null) return undefined;
    const o = this.object(v, path);
    const out: Record<string, Record<string, never>> = {};
    for (const [k, x] of Object.entries(o)) {
      if (x !== null) this.object(x, `${path}[${JSON.stringify(k)}]`);
      out[k] = {};
    }
    return out;
  }

  digest(v: unknown, path: string): DigestString {
    const s = this.string(v, path);
    if (!Digest.isValid(s)) this.fail(path, `is not a valid digest: ${JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s)}`);
    return s;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `a ${typeof v}`;
}

/** Assign only defined values, so exactOptionalPropertyTypes holds and absent keys stay absent. */
export function setDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/** `{key: value}` when value is defined, else `{}`: for building objects by spreading. */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
