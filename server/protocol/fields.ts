/**
 * Typed reads of untrusted decoded values, each failing with a WorldlineError that names the field: the building
 * block of the message validators (validate.ts). Also the JSON value rules every codec enforces on client input.
 */
import { WorldlineError, type ErrorName } from '../errors.js';
import { MAX_JSON_DEPTH, isJsonValue as isJsonValueRule, isPlainObject, isWellFormed } from '../core/json-value.js';
import type { JsonObject, JsonValue, Vec3 } from './messages.js';

export { MAX_JSON_DEPTH, isPlainObject, isWellFormed } from '../core/json-value.js';
export const MAX_U32 = 0xffffffff;

export type Raw = Record<string, unknown>;

/** Where a bad field makes the error: the frame (MALFORMED_FRAME) or an intent (INVALID_INTENT). */
export class Scope {
  constructor(
    readonly code: ErrorName,
    readonly prefix: string,
    readonly extra: Record<string, unknown> = {},
  ) {}

  fail(field: string, problem: string): never {
    const name = this.prefix + field;
    throw new WorldlineError(this.code, `${name} ${problem}.`, { ...this.extra, field: name });
  }
}

/** True when v is a JSON value (finite numbers, well-formed strings, plain objects and arrays) no deeper than MAX_JSON_DEPTH. */
export const isJsonValue = (v: unknown, depth = 0): v is JsonValue => isJsonValueRule(v, depth);

export class Fields {
  constructor(
    readonly raw: Raw,
    readonly scope: Scope,
  ) {}

  private get(k: string): unknown {
    const v = Object.prototype.hasOwnProperty.call(this.raw, k) ? this.raw[k] : undefined;
    return v === null ? undefined : v;
  }

  has(k: string): boolean {
    return this.get(k) !== undefined;
  }

  /** True when the key is present at all, even as null (an op's `value` may be null). */
  hasKey(k: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.raw, k) && this.raw[k] !== undefined;
  }

  str(k: string): string {
    const v = this.get(k);
    if (v === undefined) return '';
    if (typeof v !== 'string') this.scope.fail(k, 'must be a string');
    if (!isWellFormed(v)) this.scope.fail(k, 'must be well-formed Unicode (no lone surrogates)');
    return v;
  }

  requiredStr(k: string): string {
    const v = this.str(k);
    if (v === '') this.scope.fail(k, 'is required and must be a non-empty string');
    return v;
  }

  num(k: string): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.scope.fail(k, 'must be a finite number');
    return v;
  }

  /** A uint64 on the wire; JavaScript holds it exactly up to 2^53 - 1, and larger values are refused. */
  u64(k: string): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.scope.fail(k, 'must be an integer in [0, 2^53 - 1]');
    return v;
  }

  int(k: string, min: number, max: number): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.scope.fail(k, `must be an integer in [${min}, ${max}]`);
    return v;
  }

  bool(k: string): boolean {
    const v = this.get(k);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.scope.fail(k, 'must be a boolean');
    return v;
  }

  json(k: string): JsonValue {
    const v = this.get(k);
    if (v === undefined) return null;
    if (!isJsonValue(v)) this.scope.fail(k, `must be a JSON value (finite numbers, well-formed strings, plain objects and arrays at most ${MAX_JSON_DEPTH} levels deep, no "__proto__" key)`);
    return v;
  }

  jsonObject(k: string): JsonObject {
    const v = this.get(k);
    if (v === undefined) return {};
    if (!isPlainObject(v) || !isJsonValue(v)) this.scope.fail(k, 'must be a JSON object');
    return v as JsonObject;
  }

  obj(k: string): Fields | undefined {
    const v = this.get(k);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) this.scope.fail(k, 'must be an object');
    return new Fields(v, new Scope(this.scope.code, `${this.scope.prefix}${k}.`, this.scope.extra));
  }

  list(k: string): { fields: (i: number) => Fields; length: number } {
    const v = this.get(k);
    const arr: readonly unknown[] = v === undefined ? [] : Array.isArray(v) ? v : this.scope.fail(k, 'must be an array');
    return {
      length: arr.length,
      fields: (i) => {
        const item = arr[i];
        if (!isPlainObject(item)) this.scope.fail(`${k}[${i}]`, 'must be an object');
        return new Fields(item, new Scope(this.scope.code, `${this.scope.prefix}${k}[${i}].`, this.scope.extra));
      },
    };
  }

  oneOf<T extends string>(k: string, allowed: readonly T[]): T | undefined {
    const v = this.get(k);
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.scope.fail(k, `must be one of ${allowed.join(', ')}`);
    return v as T;
  }

  vec3(k: string): Vec3 {
    const f = this.obj(k);
    return f === undefined ? { x: 0, y: 0, z: 0 } : { x: f.num('x'), y: f.num('y'), z: f.num('z') };
  }
}
