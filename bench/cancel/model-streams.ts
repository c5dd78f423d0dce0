/**
 * What bench/cancel/abort.ts and streams.ts share: the fake model provider in its own process, N concurrent model
 * streams with their controllers, and the process CPU clock.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LlmProvider } from '../../adapters/llm/types.js';
import type { FromProvider } from './ipc.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Starts bench/cancel/provider.ts (a token every 10 ms per stream, as in bench/cancel.ts); resolves with its URL. */
export async function startProvider(): Promise<{ provider: ChildProcess; url: string }> {
  const provider = fork(path.join(here, 'provider.ts'), ['10'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve) => provider.on('message', (m: FromProvider) => m.type === 'listening' && resolve(m.url)));
  return { provider, url };
}

/** This process's CPU time (user + system), ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * Opens `n` streams of `model` at once (prompts `${tag}${i}`), each with its own controller. `flowing` resolves once
 * every stream has had its first token, `ended` once every one has ended (an abort ends it); `onToken` counts tokens.
 */
export function openStreams(model: LlmProvider, n: number, tag: string, onToken?: () => void): { controllers: AbortController[]; flowing: Promise<void>; ended: Promise<void> } {
  const controllers: AbortController[] = [];
  let flowing = 0;
  let ended = 0;
  let allFlowing!: () => void;
  let allEnded!: () => void;
  const flowingP = new Promise<void>((resolve) => (allFlowing = resolve));
  const endedP = new Promise<void>((resolve) => (allEnded = resolve));
  for (let i = 0; i < n; i++) {
    const c = new AbortController();
    controllers.push(c);
    void (async () => {
      let first = true;
      try {
        for await (const _token of model.stream({ messages: [{ role: 'user', content: `${tag}${i}` }], signal: c.signal })) {
          onToken?.();
          if (first && ++flowing === n) allFlowing();
          first = false;
        }
      } catch {
        // the abort that ends the stream
      }
      if (++ended === n) allEnded();
    })();
  }
  return { controllers, flowing: flowingP, ended: endedP };
}
