/**
 * A ready LLM agent: each step turns the agent's view into a prompt, streams the model's answer, parses it into an
 * intent (JSON checked against a schema; one repair round on a bad answer, then INVALID_INTENT), and submits it
 * through act(), so a generation the world makes stale is cancelled at once (the HTTP stream to the provider is
 * closed) and regenerated against the new view, with the model told what interrupted it.
 */
import { WorldlineError } from '../../server/errors.js';
import type { Agent } from '../client/agent.js';
import type { ActOptions, ActResult, AttemptRecord, GenerateContext } from '../client/act.js';
import type { JsonValue, StaleCause } from '../../server/protocol/index.js';
import type { View } from '../client/view.js';
import { parseIntent, type IntentSchemas } from './schema.js';
import type { ChatMessage, LlmProvider } from './types.js';

export interface PromptInput {
  readonly agentId: string;
  readonly persona: string;
  readonly view: View;
  readonly contextSeq: number;
  readonly intents: IntentSchemas;
  readonly allowNone: boolean;
  /** Events that interrupted this step's earlier attempts, oldest first. */
  readonly interruptedBy: readonly StaleCause[];
}

export interface LlmAgentOptions {
  readonly agent: Agent;
  readonly provider: LlmProvider;
  readonly intents: IntentSchemas;
  readonly persona?: string;
  /** Let the model decide to do nothing ({"kind": "none"}); default true. */
  readonly allowNone?: boolean;
  /** The prompt for a view (default: persona, the intent schemas, and the view as JSON). */
  readonly prompt?: (input: PromptInput) => ChatMessage[];
  readonly maxTokens?: number;
  readonly act?: Omit<ActOptions, 'onAttempt' | 'signal'>;
  /** Each streamed token, with the attempt it belongs to (repair rounds included). */
  readonly onToken?: (token: string, ctx: GenerateContext) => void;
  readonly onAttempt?: (a: AttemptRecord) => void;
}

/** The default prompt: who you are, what you may do (kinds and payload schemas), and what you see. */
export function defaultPrompt(p: PromptInput): ChatMessage[] {
  const kinds = Object.entries(p.intents).map(([k, s]) => `- ${k}: payload ${JSON.stringify(s)}`);
  if (p.allowNone) kinds.push('- none: do nothing this turn (no payload)');
  const system = [
    `You are agent ${p.agentId} in a shared simulated world.${p.persona ? ` ${p.persona}` : ''}`,
    'Answer with exactly one JSON object and nothing else: {"kind": <kind>, "payload": <payload>}. Kinds:',
    ...kinds,
  ].join('\n');
  const interrupted = p.interruptedBy.length ? `\nYou were interrupted: the world changed while you were thinking (${p.interruptedBy.map((c) => c.kind).join(', ')}). Decide again from what you see now.` : '';
  return [
    { role: 'system', content: system },
    { role: 'user', content: `What you see (view_seq ${p.contextSeq}):\n${JSON.stringify(p.view)}${interrupted}\nWhat do you do?` },
  ];
}

export class LlmAgent {
  readonly agent: Agent;
  private readonly opts: LlmAgentOptions;

  constructor(opts: LlmAgentOptions) {
    this.agent = opts.agent;
    this.opts = opts;
  }

  /** One decision: generate (and regenerate while the world moves) until an intent is submitted or the model passes. */
  step(opts: { signal?: AbortSignal } = {}): Promise<ActResult> {
    const interruptedBy: StaleCause[] = [];
    const onAttempt = (a: AttemptRecord): void => {
      interruptedBy.push(...a.staleDueTo);
      this.opts.onAttempt?.(a);
    };
    return this.agent.act((ctx) => this.generate(ctx, interruptedBy), { ...this.opts.act, onAttempt, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  private async complete(messages: ChatMessage[], ctx: GenerateContext): Promise<string> {
    let text = '';
    for await (const token of this.opts.provider.stream({ messages, signal: ctx.signal, ...(this.opts.maxTokens !== undefined ? { maxTokens: this.opts.maxTokens } : {}) })) {
      text += token;
      this.opts.onToken?.(token, ctx);
    }
    return text;
  }

  private async generate(ctx: GenerateContext, interruptedBy: readonly StaleCause[]): Promise<{ kind: string; payload: JsonValue } | null> {
    const allowNone = this.opts.allowNone ?? true;
    const messages = (this.opts.prompt ?? defaultPrompt)({ agentId: this.agent.agentId, persona: this.opts.persona ?? '', view: ctx.view, contextSeq: ctx.contextSeq, intents: this.opts.intents, allowNone, interruptedBy });
    const first = await this.complete(messages, ctx);
    const parsed = parseIntent(first, this.opts.intents, allowNone);
    if (parsed.ok) return parsed.intent;
    // One repair round: show the model its answer and what is wrong with it.
    const repair: ChatMessage[] = [
      ...messages,
      { role: 'assistant', content: first },
      { role: 'user', content: `That answer cannot be used: ${parsed.error}. Reply with only the corrected JSON object {"kind": ..., "payload": ...}.` },
    ];
    const second = await this.complete(repair, ctx);
    const again = parseIntent(second, this.opts.intents, allowNone);
    if (again.ok) return again.intent;
    throw new WorldlineError('INVALID_INTENT', `the model did not produce a valid intent, even after one repair round: ${again.error}`, { source: 'llm', provider: this.opts.provider.name, error: again.error, answer: second.slice(0, 500) });
  }
}
