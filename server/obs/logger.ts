/**
 * Structured logging with pino. Secrets never reach the log: known credential and contact fields are redacted by
 * path, configured paths are added, and emails, phone numbers and bearer tokens inside free-text messages are
 * masked before the line is written.
 */
import pino, { type Logger, type LoggerOptions, type DestinationStream } from 'pino';

/** Field names redacted wherever they appear (top level and one or two levels down). */
const SENSITIVE = ['token', 'authorization', 'password', 'secret', 'jwt', 'apiKey', 'api_key', 'email', 'phone', 'cookie'];

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// Phone numbers: an optional +, then 9-15 digits with optional spaces, dots, dashes or parentheses between groups.
const PHONE = /(?<![\w-])\+?\d[\d\s().-]{7,}\d(?![\w-])/g;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/** Masks emails, phone numbers and tokens inside a free-text string. */
export function scrubText(s: string): string {
  return s.replace(JWT, '[REDACTED]').replace(BEARER, '$1[REDACTED]').replace(EMAIL, '[REDACTED]').replace(PHONE, (m) => (m.replace(/\D/g, '').length >= 9 ? '[REDACTED]' : m));
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

/** Creates the server logger; `destination` lets tests capture lines. */
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
    timestamp: pino.stdTimeFunctions.epochTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
