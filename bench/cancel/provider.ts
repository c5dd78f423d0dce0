/**
 * The cancel bench's fake model provider: test/adapters/fake-llm-server.ts (OpenAI-compatible SSE over node:http on
 * 127.0.0.1) answering every request with a long, slow stream, so only the client's abort ends it, and stamping the
 * moment each stream's connection closes early. Runs inside an agent worker, or forked as its own process (this
 * file's entry point, driven over IPC by bench/cancel.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeLlmServer } from '../../test/adapters/fake-llm-server.js';
import { clockOffset, parsePrompt, stamp, type Close, type FromProvider, type ToProvider } from './ipc.js';

/** Tokens per answer: at 10 ms apart, a stream lasts 30 s, far longer than any round. */
const ANSWER_TOKENS = 3000;

export interface RecordingProvider {
  readonly url: string;
  /** The closes seen for `round`, once `expect` of them are in or after `timeoutMs`. */
  closes(round: number, expect: number, timeoutMs: number): Promise<Close[]>;
  close(): Promise<void>;
}

export async function startRecordingProvider(tokenDelayMs: number): Promise<RecordingProvider> {
  const tokens = Array.from({ length: ANSWER_TOKENS }, (_, i) => ` w${i}`);
  const fake = await startFakeLlmServer('openai', () => ({ tokens, delayMs: tokenDelayMs }));
  const byRound = new Map<number, Close[]>();
  let wake: (() => void) | undefined;
  fake.onClientAbort = (r) => {
    const at = stamp();
    const who = parsePrompt(r.body);
    if (!who) return;
    let list = byRound.get(who.round);
    if (!list) byRound.set(who.round, (list = []));
    list.push({ agent: who.agent, round: who.round, at });
    wake?.();
  };
  return {
    url: fake.url,
    async closes(round, expect, timeoutMs) {
      const deadline = stamp() + timeoutMs;
      while ((byRound.get(round)?.length ?? 0) < expect && stamp() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - stamp()));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      const out = byRound.get(round) ?? [];
      byRound.delete(round);
      return out;
    },
    close: () => fake.close(),
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const send = (m: FromProvider): void => {
    process.send?.(m);
  };
  const delay = Number(process.argv[2] ?? '10');
  // As in the workers: no source-mapped stacks (tsx turns them on), which Node builds for every reset connection.
  process.setSourceMapsEnabled(false);
  const p = await startRecordingProvider(delay);
  process.on('message', (m: ToProvider) => {
    if (m.type === 'exit') {
      void p.close().finally(() => process.exit(0));
      return;
    }
    void p.closes(m.round, m.expect, m.timeoutMs).then((closes) => send({ type: 'closes', round: m.round, closes }));
  });
  // The bench is gone: so are we.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'listening', url: p.url, clockOffsetMs: clockOffset() });
}
