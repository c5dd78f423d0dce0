/**
 * The conversation demo, in one process: a Worldline server hosting the `conversation` world (port 0, a temporary
 * data directory), and agents A, B and C connected through the client SDK, each an LlmAgent on the scripted model
 * (or the provider WORLDLINE_LLM_* names). When someone speaks while another is generating, the other's generation
 * is cancelled by the server, its HTTP stream closed, and it regenerates against the new conversation. The
 * transcript marks every interruption.
 *
 *   node --import tsx adapters/llm/demo.ts [--lines 9] [--seed 42] [--codec msgpack]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { loadConfig } from '../../server/config.js';
import { WorldlineError, isWorldlineError } from '../../server/errors.js';
import { createLogger } from '../../server/obs/logger.js';
import { startServer } from '../../server/transport/server.js';
import { connect, type Agent, type CodecName } from '../client/index.js';
import { LlmAgent } from './agent.js';
import { providerFromEnv, type Env } from './config.js';
import { PERSONAS, conversationPrompt, nameOf, roomLines, scriptedConversationAnswer, type Persona } from './demo-conversation.js';

export interface DemoOptions {
  /** Stop once the room has this many lines (default 9). */
  readonly lines?: number;
  readonly seed?: number;
  readonly codec?: CodecName;
  /** Hard stop, in ms (default 30000). */
  readonly deadlineMs?: number;
  readonly env?: Env;
  readonly out?: (line: string) => void;
}

export interface DemoSummary {
  readonly lines: number;
  readonly interruptions: Record<string, number>;
  readonly staleRejections: number;
  readonly gaveUp: number;
  /** Steps whose answer stayed unusable after the repair round (INVALID_INTENT): a real model's prose, say. */
  readonly unusableAnswers: number;
  readonly transcript: ReadonlyArray<{ by: string; text: string; line: number }>;
  readonly model: string;
  readonly tokens: { input: number; output: number; costUsd: number; abortedStreams: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const short = (s: string, n = 70): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The spoken part of a partial answer {"kind":"Say","payload":{"text":"...: what the speaker had got to. */
function partialText(raw: string): string | undefined {
  const m = /"text"\s*:\s*"((?:[^"\\]|\\.)*)/.exec(raw);
  return m ? m[1]! : undefined;
}

/** Where an interrupted generation stopped, for the transcript: the words of its line so far, if it had any. */
export function interruptedAt(raw: string): string {
  const said = partialText(raw);
  return said === undefined || said.trim() === '' ? 'before its first word' : `at "${short(said, 60)}"`;
}

export async function runConversationDemo(opts: DemoOptions = {}): Promise<DemoSummary> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const maxLines = opts.lines ?? 9;
  const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-llm-demo-'));
  const cfg = loadConfig({ env: {}, overrides: { port: 0, dataDir, world: 'conversation', tickMs: 10, logLevel: 'silent', messagesPerSecond: 10_000 } });
  const srv = await startServer(cfg, { logger: createLogger({ level: 'silent' }) });
  const provider = providerFromEnv(opts.env ?? process.env, { seed: opts.seed ?? 42, respond: scriptedConversationAnswer });
  const t0 = performance.now();
  const stamp = (): string => `[${((performance.now() - t0) / 1000).toFixed(2).padStart(5)}s]`;
  out(`Worldline conversation demo: world "conversation" on ${srv.wsUrl}, model ${provider.name} ${provider.model}`);
  out('  ▶ starts generating   ✂ interrupted (the world moved on; its HTTP stream is closed)   ↻ stale on arrival   ✔ said   ✗ unusable answer\n');
  const stop = new AbortController();
  const summary = { interruptions: Object.fromEntries(PERSONAS.map((p) => [p.id, 0])) as Record<string, number>, staleRejections: 0, gaveUp: 0, unusableAnswers: 0 };
  const agents: Agent[] = [];
  try {
    for (const p of PERSONAS) {
      const token = await srv.auth.issue({ tenant: 'default', world: 'conversation', agent: p.id, role: 'agent' }, 3600);
      agents.push(await connect(srv.wsUrl, { token, agentId: p.id, WebSocket, codec: opts.codec ?? 'msgpack' }));
    }
    const count = (a: Agent): number => Number(a.view.entities['room']?.['count'] ?? 0);
    const done = (): boolean => stop.signal.aborted || agents.some((a) => count(a) >= maxLines) || Date.now() > deadline;

    const runAgent = async (p: Persona, agent: Agent): Promise<void> => {
      const partial = new Map<string, string>();
      const heardAt = new Map<string, number>();
      // An interruption's line waits for the delta naming the speaker; the next attempt's prompt prints it first,
      // since act() starts that attempt as soon as the view reaches the causes, before the 'observation' event.
      let pendingCut: (() => void) | undefined;
      const llm = new LlmAgent({
        agent,
        provider,
        intents: { Say: { type: 'object', properties: { text: { type: 'string', minLength: 1, maxLength: 280 } }, required: ['text'], additionalProperties: false } },
        prompt: (input) => {
          pendingCut?.();
          out(`${stamp()} ${p.name.padEnd(3)} ▶ generating from view_seq ${input.contextSeq} (${roomLines(input.view).length} lines heard)`);
          return conversationPrompt(input);
        },
        act: { maxAttempts: 8, regenerateOnStale: true },
        onToken: (t, ctx) => {
          partial.set(ctx.reqId, (partial.get(ctx.reqId) ?? '') + t);
          if (!heardAt.has(ctx.reqId)) heardAt.set(ctx.reqId, count(agent));
        },
        onAttempt: (a) => {
          const said = partialText(partial.get(a.reqId) ?? '');
          if (a.outcome === 'interrupted') {
            summary.interruptions[p.id] = (summary.interruptions[p.id] ?? 0) + 1;
            // The Cancelled frame comes before the delta that carries the new line: name the speaker once the view
            // holds the causes' view_seq (or after a moment without it), stamped with when the interruption came.
            const at = stamp();
            const where = interruptedAt(partial.get(a.reqId) ?? '');
            const causes = a.staleDueTo.map((c) => `${c.kind} at view_seq ${c.view_seq}`).join(', ');
            const target = Math.max(0, ...a.staleDueTo.map((c) => c.view_seq));
            let printed = false;
            const print = (): void => {
              if (printed) return;
              printed = true;
              pendingCut = undefined;
              off();
              clearTimeout(timer);
              const fresh = roomLines(agent.view).filter((l) => l.line > (heardAt.get(a.reqId) ?? 0) && l.by !== p.id);
              const who = fresh.length ? fresh.map((l) => nameOf(l.by)).join(', ') : 'someone';
              out(`${at} ${p.name.padEnd(3)} ✂ interrupted ${where}: ${who} spoke (${causes}); regenerating`);
            };
            const off = agent.on('observation', () => {
              if (agent.viewSeq >= target) print();
            });
            const timer = setTimeout(print, 2000);
            pendingCut = print;
            if (agent.viewSeq >= target) print();
          } else if (a.outcome === 'stale') {
            summary.staleRejections++;
            out(`${stamp()} ${p.name.padEnd(3)} ↻ "${short(said ?? '', 50)}" arrived stale (STALE_CONTEXT); regenerating`);
          }
        },
      });
      while (!done()) {
        const lines = roomLines(agent.view);
        const last = lines.at(-1);
        // Speak when there is something new from someone else (A opens; nobody speaks twice in a row).
        const myTurn = last ? last.by !== p.id : p.id !== 'C';
        if (!myTurn) {
          await sleep(10);
          continue;
        }
        await sleep(p.thinkMs);
        if (done()) break;
        try {
          const r = await llm.step({ signal: stop.signal });
          const text = r.intent && typeof r.intent.payload === 'object' && r.intent.payload !== null ? String((r.intent.payload as Record<string, unknown>)['text'] ?? '') : '';
          if (r.result?.status === 'accepted') out(`${stamp()} ${p.name.padEnd(3)} ✔ "${text}"  (global_seq ${r.result.global_seq ?? '?'})`);
          else if (r.result) out(`${stamp()} ${p.name.padEnd(3)} ✗ ${r.result.status} ${r.result.error?.name ?? ''}`);
          else await sleep(50);
        } catch (err) {
          if (stop.signal.aborted) break;
          if (isWorldlineError(err, 'STALENESS_DETECTED')) {
            summary.gaveUp++;
            out(`${stamp()} ${p.name.padEnd(3)} … gave up after too many interruptions; listening instead`);
            await sleep(200);
            continue;
          }
          // A real model may answer in prose even after the repair round: one bad answer does not end the demo.
          if (isWorldlineError(err, 'INVALID_INTENT')) {
            summary.unusableAnswers++;
            const answer = typeof err.details['answer'] === 'string' ? err.details['answer'] : '';
            out(`${stamp()} ${p.name.padEnd(3)} ✗ unusable answer (INVALID_INTENT: ${String(err.details['error'] ?? err.message)}): "${short(answer.trim(), 50)}"; trying again`);
            await sleep(200);
            continue;
          }
          throw err;
        }
      }
      stop.abort(new Error('demo over'));
    };
    await Promise.all(PERSONAS.map((p, i) => runAgent(p, agents[i]!)));
    await sleep(50);
    const transcript = roomLines(agents[0]!.view);
    out('\nTranscript (from the world view):');
    for (const l of transcript) out(`  ${String(l.line).padStart(2)}. ${nameOf(l.by)}: ${l.text}`);
    const t = provider.accounting.sum();
    const inter = Object.entries(summary.interruptions).map(([k, v]) => `${nameOf(k)} ${v}`).join(', ');
    out(`\n${transcript.length} lines; interruptions: ${inter}; stale on arrival: ${summary.staleRejections};${summary.unusableAnswers ? ` unusable answers: ${summary.unusableAnswers};` : ""} tokens in/out ${t.inputTokens}/${t.outputTokens}${t.estimatedUsage ? ' (partly estimated)' : ''}, cost $${t.costUsd.toFixed(4)}, ${t.aborted} model streams cancelled`);
    const cancel = agents.map((a) => a.stats().cancelToAbort).filter((s) => s.count > 0);
    if (cancel.length) out(`Cancelled frame to aborted signal: max ${Math.max(...cancel.map((s) => s.max)).toFixed(3)} ms over ${cancel.reduce((n, s) => n + s.count, 0)} cancels`);
    return { lines: transcript.length, interruptions: summary.interruptions, staleRejections: summary.staleRejections, gaveUp: summary.gaveUp, unusableAnswers: summary.unusableAnswers, transcript, model: `${provider.name} ${provider.model}`, tokens: { input: t.inputTokens, output: t.outputTokens, costUsd: t.costUsd, abortedStreams: t.aborted } };
  } finally {
    stop.abort(new Error('demo over'));
    for (const a of agents) a.close();
    await srv.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const USAGE = 'usage: node --import tsx adapters/llm/demo.ts [--lines N] [--seed N] [--codec msgpack|json|proto]';

/** The demo's options from its command line; a bad one is CONFIG_INVALID naming it (NaN lines ran to the deadline). */
export function demoOptionsFromArgs(args: string[]): DemoOptions {
  let values: { lines?: string | undefined; seed?: string | undefined; codec?: string | undefined };
  try {
    ({ values } = parseArgs({ args, options: { lines: { type: 'string' }, seed: { type: 'string' }, codec: { type: 'string' } } }));
  } catch (err) {
    throw new WorldlineError('CONFIG_INVALID', (err as Error).message, { key: 'argv' }, { cause: err });
  }
  const whole = (name: 'lines' | 'seed', min: number): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new WorldlineError('CONFIG_INVALID', `--${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`, { key: name });
    return v;
  };
  const lines = whole('lines', 1);
  const seed = whole('seed', 0);
  const codec = values.codec;
  if (codec !== undefined && codec !== 'json' && codec !== 'msgpack' && codec !== 'proto') throw new WorldlineError('CONFIG_INVALID', `--codec must be json, msgpack or proto, got ${JSON.stringify(codec)}`, { key: 'codec' });
  return { ...(lines !== undefined ? { lines } : {}), ...(seed !== undefined ? { seed } : {}), ...(codec !== undefined ? { codec } : {}) };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  new Promise<DemoOptions>((resolve) => resolve(demoOptionsFromArgs(args)))
    .then((opts) => runConversationDemo(opts))
    .then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(isWorldlineError(err) ? `${err.codeName} (${err.code}): ${err.message}` : err);
        if (isWorldlineError(err, 'CONFIG_INVALID') && ['argv', 'lines', 'seed', 'codec'].includes(String(err.details['key']))) console.error(USAGE);
        process.exit(1);
      },
    );
}
