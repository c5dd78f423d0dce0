/**
 * The conversation demo's agents: their prompt (the room's recent lines, and what interrupted them), and the
 * scripted model's lines for each persona, so the demo runs deterministically offline. A real model gets the same
 * prompt when WORLDLINE_LLM_PROVIDER names one.
 */
import type { PromptInput } from './agent.js';
import type { Rng } from './scripted.js';
import type { ChatMessage } from './types.js';

export interface Persona {
  readonly id: string;
  readonly name: string;
  readonly persona: string;
  /** How long this agent thinks before it starts answering something new, in ms. */
  readonly thinkMs: number;
}

export const PERSONAS: readonly Persona[] = [
  { id: 'A', name: 'Ada', persona: 'a careful planner who likes long, structured answers', thinkMs: 0 },
  { id: 'B', name: 'Bo', persona: 'an impatient enthusiast who interrupts with short remarks', thinkMs: 250 },
  { id: 'C', name: 'Cy', persona: 'a dry sceptic who asks about cost and effort', thinkMs: 400 },
];

export interface RoomLine {
  readonly by: string;
  readonly text: string;
  readonly line: number;
}

/** The room's recent lines as the view shows them. */
export function roomLines(view: PromptInput['view']): RoomLine[] {
  const lines = view.entities['room']?.['lines'];
  return Array.isArray(lines) ? (lines as unknown as RoomLine[]) : [];
}

export function nameOf(id: string): string {
  return PERSONAS.find((p) => p.id === id)?.name ?? id;
}

/** The prompt: who you are, the conversation so far, and (after an interruption) what changed while you were thinking. */
export function conversationPrompt(p: PromptInput): ChatMessage[] {
  const me = PERSONAS.find((x) => x.id === p.agentId);
  const others = PERSONAS.filter((x) => x.id !== p.agentId).map((x) => `${x.name} (${x.id})`).join(' and ');
  const topic = String(p.view.entities['room']?.['topic'] ?? 'anything');
  const system = [
    `You are ${me?.name ?? p.agentId} (${p.agentId}), ${me?.persona ?? 'a participant'}, talking with ${others} about ${topic}.`,
    'Answer with exactly one JSON object and nothing else: {"kind":"Say","payload":{"text":"<what you say: one to three sentences>"}}',
    'or {"kind":"none"} to stay silent.',
  ].join('\n');
  const lines = roomLines(p.view);
  const history = lines.length ? lines.map((l) => `${nameOf(l.by)}: ${l.text}`).join('\n') : '(nobody has spoken yet: open the conversation)';
  const note = p.interruptedBy.length ? `\n(You were interrupted: ${p.interruptedBy.length === 1 ? 'someone' : `${p.interruptedBy.length} people`} spoke while you were thinking. Respond to what was just said, briefly.)` : '';
  return [
    { role: 'system', content: system },
    { role: 'user', content: `Conversation so far:\n${history}${note}\nYour turn, ${me?.name ?? p.agentId}.` },
  ];
}

const OPENERS: Record<string, readonly string[]> = {
  A: [
    'Let me lay out a plan: first we map the sunny beds along the south fence, then we test the soil, then we pick crops that suit each bed and stagger the sowing so something is ready every few weeks.',
    'I suggest three phases: preparing the beds in March, sowing peas, lettuce and radishes in April, and planting tomatoes and beans once the frost has passed in May, with a shared watering rota from the start.',
  ],
  B: ['Tomatoes! Everyone loves tomatoes.', 'Sunflowers, obviously. Big ones.', 'Strawberries, let us just do strawberries!'],
  C: ['And who pays for the compost and the seeds?', 'How many hours a week is that, really?', 'Fine, but who waters it in August?'],
};

const REPLIES: Record<string, readonly string[]> = {
  A: [
    'Fair point, so let us keep the first season small and cheap.',
    'Good question, I would put it on a shared rota.',
    'Agreed, we can fit that into the plan without extra cost.',
  ],
  B: ['Yes! Let us start this weekend.', 'Ha, I can water on Mondays.', 'I will bring seeds, no problem.'],
  C: ['Then write the rota down before anyone buys anything.', 'That only works if we share the cost of the tools.', 'Keep it to two beds and I am in.'],
};

/** The scripted model's answer for this conversation: the speaker comes from the prompt, the words from the seeded rng. */
export function scriptedConversationAnswer(messages: readonly ChatMessage[], rng: Rng): string {
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  const id = /\(([ABC])\), /.exec(system)?.[1] ?? 'A';
  const interrupted = user.includes('You were interrupted');
  const opening = user.includes('nobody has spoken yet');
  const all = (opening || (!interrupted && id !== 'A' ? rng() < 0.5 : !interrupted) ? OPENERS : REPLIES)[id]!;
  // Lines already said in this conversation are not said again, while there are others.
  const fresh = all.filter((t) => !user.includes(t));
  const pool = fresh.length ? fresh : all;
  const text = pool[Math.floor(rng() * pool.length)]!;
  return JSON.stringify({ kind: 'Say', payload: { text } });
}
