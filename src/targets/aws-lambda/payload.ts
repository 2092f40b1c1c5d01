/**
 * What ferry sends to Lambda for a function that exists, and what it reads back, as plain data (no
 * SDK here). A deploy sends only what differs: UpdateFunctionCode when the image or architecture
 * changed, UpdateFunctionConfiguration when a setting did. Lambda takes the architecture with the
 * code (UpdateFunctionCode), not with the configuration.
 */
import type { RunStatus } from '../../core/target.js';
import type { InvokeResult } from '../index.js';
import type { FunctionConfiguration } from './preflight.js';

/** A function's configuration as GetFunction and the update calls answer it: only what ferry reads. */
export interface FunctionSettings {
  FunctionName?: string | undefined;
  FunctionArn?: string | undefined;
  PackageType?: string | undefined;
  Role?: string | undefined;
  MemorySize?: number | undefined;
  Timeout?: number | undefined;
  EphemeralStorage?: { Size?: number | undefined } | undefined;
  Environment?: { Variables?: Record<string, string> | undefined } | undefined;
  Architectures?: string[] | undefined;
  ImageConfigResponse?: { ImageConfig?: { EntryPoint?: string[] | undefined; Command?: string[] | undefined } | undefined } | undefined;
  Version?: string | undefined;
  State?: string | undefined;
  StateReason?: string | undefined;
  LastUpdateStatus?: string | undefined;
  LastUpdateStatusReason?: string | undefined;
  RevisionId?: string | undefined;
}

export interface UpdateCodeInput {
  FunctionName: string;
  ImageUri: string;
  Architectures: FunctionConfiguration['Architectures'];
}

export interface UpdateConfigurationInput {
  FunctionName: string;
  Role: string;
  MemorySize: number;
  Timeout: number;
  EphemeralStorage: { Size: number };
  Environment: { Variables: Record<string, string> };
  /** Always sent: {} clears overrides an earlier deploy set (job.command/args removed since). */
  ImageConfig: { EntryPoint?: string[]; Command?: string[] };
}

/** UpdateFunctionCode's input, or undefined when the function already runs this image on this architecture. */
export function codeUpdate(desired: FunctionConfiguration, existing: FunctionSettings, imageUri: string | undefined): UpdateCodeInput | undefined {
  const sameImage = imageUri === desired.Code.ImageUri;
  const sameArch = (existing.Architectures ?? ['x86_64']).join(',') === desired.Architectures.join(',');
  if (sameImage && sameArch) return undefined;
  return { FunctionName: desired.FunctionName, ImageUri: desired.Code.ImageUri, Architectures: desired.Architectures };
}

/** Empty lists and absent ones mean the same to Lambda's ImageConfig: the image's own value. */
function list(v: string[] | undefined): string {
  return v === undefined || v.length === 0 ? '' : JSON.stringify(v);
}

function sameEnv(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const x = a ?? {};
  const keys = Object.keys(b);
  return Object.keys(x).length === keys.length && keys.every((k) => x[k] === b[k]);
}

/** UpdateFunctionConfiguration's input, or undefined when every setting ferry manages is already so. */
export function configurationUpdate(desired: FunctionConfiguration, existing: FunctionSettings): UpdateConfigurationInput | undefined {
  const image = existing.ImageConfigResponse?.ImageConfig;
  const same =
    existing.Role === desired.Role &&
    existing.MemorySize === desired.MemorySize &&
    existing.Timeout === desired.Timeout &&
    (existing.EphemeralStorage?.Size ?? 512) === desired.EphemeralStorage.Size &&
    sameEnv(existing.Environment?.Variables, desired.Environment.Variables) &&
    list(image?.EntryPoint) === list(desired.ImageConfig?.EntryPoint) &&
    list(image?.Command) === list(desired.ImageConfig?.Command);
  if (same) return undefined;
  return {
    FunctionName: desired.FunctionName,
    Role: desired.Role,
    MemorySize: desired.MemorySize,
    Timeout: desired.Timeout,
    EphemeralStorage: { ...desired.EphemeralStorage },
    Environment: { Variables: { ...desired.Environment.Variables } },
    ImageConfig: { ...(desired.ImageConfig ?? {}) },
  };
}

/**
 * A deployed function's state as a run state: ready (Active, last update Successful) is
 * `succeeded`; Pending or an update InProgress is `running`; Failed (the function or its last
 * update) is `failed`, with Lambda's reason. Inactive (idle for weeks) is ready: an invoke wakes it.
 */
export function statusOf(c: FunctionSettings): RunStatus {
  const state = c.State ?? 'Active';
  const update = c.LastUpdateStatus ?? 'Successful';
  if (state === 'Failed') return { state: 'failed', phase: 'Failed', reason: c.StateReason ?? 'the function is in state Failed' };
  if (update === 'Failed') return { state: 'failed', phase: 'LastUpdateStatus Failed', reason: c.LastUpdateStatusReason ?? 'the last update failed' };
  if (state === 'Pending') return { state: 'running', phase: 'Pending' };
  if (update === 'InProgress') return { state: 'running', phase: 'update InProgress' };
  return { state: 'succeeded', phase: state === 'Active' ? 'Active' : `${state} (ready)` };
}

export function invokeResult(out: { statusCode: number; functionError?: string | undefined; executedVersion?: string | undefined; payload: Uint8Array; logResult?: string | undefined }): InvokeResult {
  return {
    statusCode: out.statusCode,
    ...(out.functionError === undefined || out.functionError === '' ? {} : { functionError: out.functionError }),
    ...(out.executedVersion === undefined ? {} : { executedVersion: out.executedVersion }),
    response: Buffer.from(out.payload).toString('utf8'),
    // LogType Tail gives the log's last 4 KB as base64 in LogResult (X-Amz-Log-Result).
    logTail: out.logResult === undefined ? '' : Buffer.from(out.logResult, 'base64').toString('utf8'),
  };
}
