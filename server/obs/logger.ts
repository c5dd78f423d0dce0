/**
 * Structured logging with pino. Secrets never reach the log: known credential and contact fields are redacted by
 * path, configured paths are added, and emails, phone numbers and bearer tokens inside free-text messages and string
 * field values are masked before the line is written.
 */
import net from 'node:net';
import pino, { type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { stdoutLogSink } from './log-sink.js';

/** Field names redacted wherever they appear (top level and one or two levels down). */
const SENSITIVE = ['token', 'authorization', 'password', 'secret', 'jwt', 'apiKey', 'api_key', 'email', 'phone', 'cookie'];

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// Phone numbers: an optional +, then 9-15 digits with optional spaces, dots, dashes or parentheses between groups.
const PHONE = /(?<![\w-])\+?\d[\d\s().-]{7,}\d(?![\w-])/g;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
// A token in a URL's query string (the WebSocket and REST take one there): of any shape, a static token is no JWT.
const TOKEN_PARAM = /([?&](?:access_)?token=)[^&#\s"'<>]+/gi;

/**
 * Whether a string may hold an email, a phone number or a token: an @, nine digits, eyJ (a JWT), "bearer" or
 * "token=" (a query parameter). One
 * pass over the characters, so the common case (ids, names, codes) skips the four patterns (~0.6 us a string).
 */
function mayHoldSecret(s: string): boolean {
  if (s.length < 6) return false;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 64 || (c >= 48 && c <= 57 && ++digits >= 9)) return true;
  }
  return s.includes('eyJ') || /bearer|token=/i.test(s);
}

/** A PHONE match that is one: 9 to 15 digits (more is a counter or a file name), and not an IP address. */
const phoneMask = (m: string): string => {
  const digits = m.replace(/\D/g, '').length;
  return digits >= 9 && digits <= 15 && net.isIP(m) === 0 ? '[REDACTED]' : m;
};

/** Masks emails, phone numbers and tokens inside a free-text string. */
export function scrubText(s: string): string {
  if (!mayHoldSecret(s)) return s;
  return s.replace(JWT, '[REDACTED]').replace(TOKEN_PARAM, '$1[REDACTED]').replace(BEARER, '$1[REDACTED]').replace(EMAIL, '[REDACTED]').replace(PHONE, phoneMask);
}

/**
 * A log field's value with scrubText applied to its strings: the value itself, or those in an array or plain object
 * it holds (one level down; deeper values, errors and buffers are left as they are). The same value when nothing
 * changed, so a line without secrets costs no copy.
 */
function scrubValue(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return scrubText(v);
  if (depth === 0 || typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const s = scrubValue(v[i], depth - 1);
      if (s !== v[i]) (out ??= [...v])[i] = s;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null ? scrubFields(v as Record<string, unknown>, depth - 1) : v;
}

/** A log line's fields with their strings scrubbed, a copy only when one changed. */
function scrubFields(obj: Record<string, unknown>, depth = 1): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    const s = scrubValue(v, depth);
    if (s !== v) (out ??= { ...obj })[k] = s;
  }
  return out ?? obj;
}

/** pino's standard error serializer, with the message and stack scrubbed (scrubText). */
function scrubError(e: Error): ReturnType<typeof pino.stdSerializers.err> {
  const o = pino.stdSerializers.err(e);
  if (typeof o.message === 'string') o.message = scrubText(o.message);
  if (typeof o.stack === 'string') o.stack = scrubText(o.stack);
  return o;
}

export function redactPaths(extra: readonly string[] = []): string[] {
  const paths: string[] = [];
  for (const f of SENSITIVE) paths.push(f, `*.${f}`, `*.*.${f}`);
  return [...paths, ...extra];
}

export interface LoggerConfig {
  readonly level?: string;
  /** Extra field paths to redact (pino redact syntax, e.g. "payload.ssn"). */
  readonly redact?: readonly string[];
}

/** Creates the server logger, writing to stdout; `destination` lets tests capture lines. */
export function createLogger(cfg: LoggerConfig = {}, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: cfg.level ?? 'info',
    base: { service: 'worldline' },
    redact: { paths: redactPaths(cfg.redact), censor: '[REDACTED]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<typeof method>);
      },
    },
    // Field values too: a client picks some of them (req_id, agent_id, reasons), and may put an email in one. Run on
    // each line's own fields, before the redaction by path above (a child logger's bindings are not: pino applies
    // this formatter to none of them, and the server binds only world ids there).
    formatters: { log: (obj) => scrubFields(obj) },
    // An error's message and stack may quote what a client sent (a payload, a req_id): scrubbed like messages.
    serializers: { err: scrubError },
    timestamp: pino.stdTimeFunctions.epochTime,
  };
  // By default stdout, through a sink that drops lines once stdout's reader is gone (log-sink.ts says why not pino's).
  return pino(options, destination ?? stdoutLogSink());
}

export type { Logger };
