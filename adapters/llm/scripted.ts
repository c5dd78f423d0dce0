/**
 * A scripted model for demos, tests and benchmarks: deterministic for a seed and a conversation, it streams its
 * answer one token every 20-30 ms (configurable) and stops at once when aborted. No network.
 */
import { abortReason, estimateTokens, type ChatMessage, type LlmProvider, type StreamRequest } from './types.js';

/** A seeded uniform generator in [0, 1) (mulberry32). */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, to derive a per-conversation seed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface ScriptedOptions {
  readonly seed?: number;
  /** The full answer for a conversation; the default strings together words from a small bank. */
  readonly respond?: (messages: readonly ChatMessage[], rng: Rng) => string;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly model?: string;
}

const WORDS = ['the', 'world', 'moves', 'on', 'and', 'we', 'should', 'listen', 'before', 'we', 'speak', 'again', 'perhaps', 'later', 'together'];

function defaultRespond(_messages: readonly ChatMessage[], rng: Rng): string {
  const n = 5 + Math.floor(rng() * 10);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rng() * WORDS.length)]!);
  return out.join(' ') + '.';
}

/** Splits text into tokens the way a model streams them: words with their leading space, and punctuation runs. */
export function tokenize(text: string): string[] {
  return text.match(/\s*[A-Za-z0-9']+|\s*[^A-Za-z0-9'\s]+|\s+$/g) ?? [];
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const t = setTimeout(done, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function scriptedProvider(opts: ScriptedOptions = {}): LlmProvider {
  const seed = opts.seed ?? 42;
  const respond = opts.respond ?? defaultRespond;
  const lo = opts.minDelayMs ?? 20;
  const hi = opts.maxDelayMs ?? 30;
  return {
    name: `scripted:${seed}`,
    model: opts.model ?? 'scripted',
    async *stream(req: StreamRequest): AsyncIterable<string> {
      const key = req.messages.map((m) => `${m.role}:${m.content}`).join('\n');
      const rng = seededRng(seed ^ hashString(key));
      const tokens = tokenize(respond(req.messages, rng));
      let sent = 0;
      try {
        for (const t of tokens) {
          await sleep(lo + rng() * (hi - lo), req.signal);
          sent++;
          yield t;
        }
      } catch (err) {
        throw abortReason(req.signal, err);
      } finally {
        req.onUsage?.({ inputTokens: estimateTokens(key), outputTokens: sent, estimated: false });
      }
    },
  };
}
