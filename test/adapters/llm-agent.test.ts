/**
 * The ready LLM agent and act()'s edge cases: schema checks and the one repair round, STALE_CONTEXT regeneration
 * (against a scripted host, since the server's timing decides whether a race goes stale), and the conversation
 * demo end to end over a real server: someone is interrupted and regenerates, and the lines commit in order.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runAct, type ActHost } from '../../adapters/client/act.js';
import type { IntentInput } from '../../adapters/client/options.js';
import type { View } from '../../adapters/client/view.js';
import { LlmAgent } from '../../adapters/llm/agent.js';
import { demoOptionsFromArgs, interruptedAt, runConversationDemo } from '../../adapters/llm/demo.js';
import { checkSchema, parseIntent, type IntentSchemas } from '../../adapters/llm/schema.js';
import { scriptedProvider } from '../../adapters/llm/scripted.js';
import type { IntentResult } from '../../server/protocol/index.js';
import { startFakeLlmServer } from './fake-llm-server.js';

const intents: IntentSchemas = {
  Move: { type: 'object', properties: { dx: { type: 'integer', minimum: -10, maximum: 10 }, dy: { type: 'integer', minimum: -10, maximum: 10 } }, required: ['dx', 'dy'], additionalProperties: false },
};

/** An ActHost that answers submits from a list and records what act() did. */
function fakeHost(results: Array<Partial<IntentResult>>): ActHost & { submitted: IntentInput[]; begun: Array<[string, number]>; ended: Array<[string, boolean]>; seq: number } {
  const h = {
    submitted: [] as IntentInput[],
    begun: [] as Array<[string, number]>,
    ended: [] as Array<[string, boolean]>,
    seq: 3,
    closed: false,
    get view(): View {
      return { entities: { me: { x: h.seq } } };
    },
    get viewSeq(): number {
      return h.seq;
    },
    beginGeneration(reqId: string, contextSeq: number) {
      h.begun.push([reqId, contextSeq]);
    },
    endGeneration(reqId: string, cancel: boolean) {
      h.ended.push([reqId, cancel]);
    },
    submit(intent: IntentInput): Promise<IntentResult> {
      h.submitted.push(intent);
      const r = results.shift() ?? { status: 'accepted', global_seq: 99 };
      h.seq += 2; // the world moved while the intent was in flight
      return Promise.resolve({ type: 'intent_result', req_id: intent.req_id ?? '', status: 'accepted', ...r } as IntentResult);
    },
    waitQuiet: () => Promise.resolve(),
    waitForView: () => Promise.resolve(),
  };
  return h;
}

const staleRejection: Partial<IntentResult> = { status: 'rejected', error: { code: 1001, name: 'STALE_CONTEXT', message: 'stale', recovery: 'REGENERATE', details: { stale_due_to: [{ seq: 7, view_seq: 4, kind: 'Move' }] } } };

describe('act() and the LLM agent', () => {
  it('regenerates after a STALE_CONTEXT rejection with a new req_id and the new context_seq', async () => {
    const host = fakeHost([staleRejection]);
    const res = await runAct(host, async ({ view, contextSeq }) => ({ kind: 'Move', payload: { dx: (view.entities['me']!['x'] as number) - contextSeq, dy: 0 } }), { reqIdBase: 'r' });
    expect(res.attempts.map((a) => [a.outcome, a.contextSeq])).toEqual([['stale', 3], ['submitted', 5]]);
    expect(res.attempts[0]!.staleDueTo).toEqual([{ view_seq: 4, global_seq: 7, kind: 'Move' }]);
    expect(host.submitted.map((i) => [i.req_id, i.context_seq])).toEqual([['r.1', 3], ['r.2', 5]]);
    expect(host.begun).toEqual([['r.1', 3], ['r.2', 5]]);
    expect(res.result?.status).toBe('accepted');
  });

  it('gives up with STALENESS_DETECTED after maxAttempts, and without regenerateOnStale returns the rejection', async () => {
    await expect(runAct(fakeHost([staleRejection, staleRejection, staleRejection]), async () => ({ kind: 'Move', payload: {} }), { maxAttempts: 3 })).rejects.toMatchObject({ codeName: 'STALENESS_DETECTED' });
    const once = await runAct(fakeHost([staleRejection]), async () => ({ kind: 'Move', payload: {} }), { regenerateOnStale: false });
    expect(once.result?.error?.name).toBe('STALE_CONTEXT');
    const skipped = fakeHost([]);
    const none = await runAct(skipped, async () => null, { reqIdBase: 's' });
    expect(none.result).toBeUndefined();
    expect(skipped.ended).toEqual([['s.1', true]]);
  });

  it('checks answers against the schema, repairs once, then fails with INVALID_INTENT', async () => {
    expect(parseIntent('Sure! ```json\n{"kind":"Move","payload":{"dx":1,"dy":-2}}\n```', intents, false)).toEqual({ ok: true, intent: { kind: 'Move', payload: { dx: 1, dy: -2 } } });
    expect(parseIntent('{"kind":"none"}', intents, true)).toEqual({ ok: true, intent: null });
    expect(parseIntent('{"kind":"Fly","payload":{}}', intents, false)).toMatchObject({ ok: false });
    // Braces in the prose around the answer, before and after it, and inside its strings, are tolerated.
    const chatty = 'I weighed {a few} options. {"kind":"Move","payload":{"dx":1,"dy":0}} Next time I may try {something "}" else}.';
    expect(parseIntent(chatty, intents, false)).toEqual({ ok: true, intent: { kind: 'Move', payload: { dx: 1, dy: 0 } } });
    expect(parseIntent('Plan: {"kind":"none"} (then {wait})', intents, true)).toEqual({ ok: true, intent: null });
    // Broken JSON still reaches the parser, whose error the repair round shows the model.
    expect(parseIntent('{"kind":"Move","payload":{"dx":1,}', intents, false)).toMatchObject({ ok: false, error: expect.stringMatching(/does not parse/) });
    expect(checkSchema({ dx: 1.5, dy: 20, z: 1 }, intents['Move']!)).toEqual(['$.dx: expected an integer', '$.dy: above 10', '$.z: not allowed']);
    // First answer broken, the repair round fixes it: the model saw its answer and the error.
    const seen: string[][] = [];
    const repairing = scriptedProvider({ minDelayMs: 0, maxDelayMs: 1, respond: (m) => (seen.push(m.map((x) => x.content)), m.length > 2 ? '{"kind":"Move","payload":{"dx":2,"dy":0}}' : '{"kind":"Move","payload":{"dx":"two"}}') });
    const host = fakeHost([]);
    const agentLike = { agentId: 'me', act: (g: Parameters<typeof runAct>[1], o: Parameters<typeof runAct>[2]) => runAct(host, g, o) };
    const ok = await new LlmAgent({ agent: agentLike as never, provider: repairing, intents }).step();
    expect(ok.intent).toMatchObject({ kind: 'Move', payload: { dx: 2, dy: 0 } });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.at(-1)).toMatch(/\$\.payload\.dx: expected an integer/);
    const hopeless = scriptedProvider({ minDelayMs: 0, maxDelayMs: 1, respond: () => 'I would rather not.' });
    await expect(new LlmAgent({ agent: agentLike as never, provider: hopeless, intents }).step()).rejects.toMatchObject({ codeName: 'INVALID_INTENT', details: { source: 'llm' } });
  });

  it('answers naming Object.prototype members (kind "constructor", payload key "toString") get the repair round, not a TypeError', () => {
    expect(parseIntent('{"kind":"constructor","payload":{}}', intents, false)).toMatchObject({ ok: false, error: expect.stringMatching(/"kind" must be one of Move/) as string });
    expect(parseIntent('{"kind":"toString","payload":{}}', intents, true)).toMatchObject({ ok: false });
    expect(parseIntent('{"kind":"Move","payload":{"dx":1,"dy":1,"constructor":1}}', intents, false)).toEqual({ ok: false, error: '$.payload.constructor: not allowed' });
    expect(parseIntent('{"kind":"Move","payload":{"dx":1,"dy":1,"__proto__":{}}}', intents, false)).toEqual({ ok: false, error: '$.payload.__proto__: not allowed' });
    expect(checkSchema({ dx: 1 }, { type: 'object', required: ['dx', 'toString'] })).toEqual(['$.toString: required']);
  });

  it('says where the demo interrupted a generation: before its first word until its line has a word', () => {
    expect(interruptedAt('')).toBe('before its first word');
    expect(interruptedAt('{"text"')).toBe('before its first word');
    expect(interruptedAt('{"text": "')).toBe('before its first word');
    expect(interruptedAt('{"text": " ')).toBe('before its first word');
    expect(interruptedAt('{"text": "I suggest')).toBe('at "I suggest"');
    expect(interruptedAt(`{"text": "${'x'.repeat(80)}`)).toBe(`at "${'x'.repeat(59)}…"`);
  });

  it('runs the conversation demo: a generation is interrupted by another agent and regenerated, and lines commit in turn', async () => {
    const out: string[] = [];
    const s = await runConversationDemo({ lines: 4, out: (l) => out.push(l), env: {}, deadlineMs: 20_000 });
    expect(s.lines).toBe(4);
    expect(Object.values(s.interruptions).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    expect(s.tokens.abortedStreams).toBeGreaterThanOrEqual(1);
    expect(s.transcript.map((l) => l.line)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < s.transcript.length; i++) expect(s.transcript[i]!.by).not.toBe(s.transcript[i - 1]!.by);
    const cuts = out.filter((l) => l.startsWith('[') && l.includes('✂ interrupted'));
    expect(cuts.length).toBeGreaterThanOrEqual(1);
    // Each names who spoke (the Cancelled frame comes before the delta with the line: the demo waits for it).
    for (const l of cuts) expect(l).toMatch(/: (Ada|Bo|Cy)(, (Ada|Bo|Cy))* spoke \(/);
    // Each persona's lines tell its story in order: an interruption ends the generation printed before it, and its
    // regeneration's ▶ comes after it (the ✂ line waited for the speaker's delta while act() already regenerated).
    for (const name of ['Ada', 'Bo', 'Cy']) {
      const marks = out.filter((l) => l.startsWith('[') && l.slice(9, 13).trim() === name).map((l) => l.slice(13, 14));
      for (let i = 0; i < marks.length; i++) {
        if (marks[i] === '✂') expect(marks[i - 1], `${name}: ${marks.join(' ')}`).toBe('▶');
        if (marks[i] === '▶' && i > 0) expect(marks[i - 1], `${name}: ${marks.join(' ')}`).not.toBe('▶');
      }
    }
  }, 30_000);

  it('the demo on a real model marks an answer it cannot use and goes on, instead of ending with INVALID_INTENT', async () => {
    // The first four requests (first answers and repair rounds) get prose, as a small local model may give.
    const s = await startFakeLlmServer('openai', (i) => ({ tokens: i < 4 ? ['I', ' think', ' we', ' should', ' plant', ' beans.'] : ['{"kind":"Say","payload":{"text":"', 'Beans', '."}}'], delayMs: 2 }));
    try {
      const out: string[] = [];
      const summary = await runConversationDemo({ lines: 2, out: (l) => out.push(l), env: { WORLDLINE_LLM_PROVIDER: 'openai', WORLDLINE_LLM_BASE_URL: `${s.url}/v1` }, deadlineMs: 20_000 });
      // At least the lines asked for: two agents whose answers commit in the same quantum may add one more.
      expect(summary.lines).toBeGreaterThanOrEqual(2);
      expect(summary.unusableAnswers).toBeGreaterThanOrEqual(1);
      const marks = out.filter((l) => l.startsWith('[') && l.includes('✗ unusable answer'));
      expect(marks).toHaveLength(summary.unusableAnswers);
      for (const l of marks) expect(l).toMatch(/(Ada|Bo|Cy) +✗ unusable answer \(INVALID_INTENT: the answer holds no JSON object\): "I think we should plant beans\."; trying again/);
    } finally {
      await s.close();
    }
  }, 30_000);

  it('the demo command refuses a bad option at once, naming it, instead of a stack trace or a run to the deadline', async () => {
    const bad = (args: string[]): unknown => {
      try {
        return demoOptionsFromArgs(args);
      } catch (err) {
        return err;
      }
    };
    const refused = (key: string, message: RegExp): unknown => expect.objectContaining({ codeName: 'CONFIG_INVALID', details: { key }, message: expect.stringMatching(message) as string });
    expect(bad(['--lines', 'abc'])).toEqual(refused('lines', /^--lines must be a whole number >= 1, got "abc"/));
    expect(bad(['--lines', '0'])).toEqual(refused('lines', /^--lines must be a whole number >= 1, got "0"/));
    expect(bad(['--lines', ''])).toEqual(refused('lines', /got ""/));
    expect(bad(['--seed', 'x'])).toEqual(refused('seed', /^--seed must be a whole number >= 0, got "x"/));
    expect(bad(['--codec', 'xml'])).toEqual(refused('codec', /^--codec must be json, msgpack or proto, got "xml"/));
    expect(bad(['--line', '2'])).toEqual(refused('argv', /Unknown option '--line'/));
    expect(demoOptionsFromArgs(['--lines', '4', '--seed', '7', '--codec', 'json'])).toEqual({ lines: 4, seed: 7, codec: 'json' });
    expect(demoOptionsFromArgs([])).toEqual({});
    // As run from the README: exit 1 with the error and the usage, before any server starts.
    const run = async (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'adapters/llm/demo.ts', ...args], { timeout: 60_000 });
        return { code: 0, stdout, stderr };
      } catch (err) {
        return err as { code: number | null; stdout: string; stderr: string };
      }
    };
    const [lines, unknown, help] = await Promise.all([run('--lines', 'abc'), run('--line', '2'), run('--help')]);
    expect(lines).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^CONFIG_INVALID \(7014\): --lines must be a whole number >= 1, got "abc"\nusage: node --import tsx adapters\/llm\/demo\.ts/) as string });
    expect(unknown).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^CONFIG_INVALID \(7014\): Unknown option '--line'.*\nusage: /s) as string });
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: node --import tsx adapters\/llm\/demo\.ts/) as string });
  }, 90_000);
});
