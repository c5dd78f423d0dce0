/**
 * A small room where agents A, B and C talk: the built-in world of the LLM demo. Everyone sees everyone. An agent
 * speaks with Say {text}: its entity's `said` becomes {text, line} and the room's `lines` keeps the last 12 lines
 * ({by, text, line}), so a view holds the recent conversation. Any visible event interrupts a generation, and an
 * intent generated against a view that has since changed is stale (stalenessThreshold 0): nobody talks over a line
 * they have not heard. Agents other than A, B and C join by spawning their own entity, as in the default world.
 */
import { WorldlineError } from '../errors.js';
import { defineWorld, type EntityRecord, type JsonObject, type JsonValue, type WorldDefinition } from '../core/index.js';

/** How many recent lines the room keeps (and every view shows). */
export const ROOM_LINES = 12;
const MAX_TEXT = 280;

const entities: Record<string, EntityRecord> = {
  room: { kind: 'room', topic: 'what to plant in the shared garden this spring', lines: [], count: 0 },
  A: { kind: 'person', name: 'Ada', persona: 'a careful planner who likes long, structured answers' },
  B: { kind: 'person', name: 'Bo', persona: 'an impatient enthusiast who interrupts with short remarks' },
  C: { kind: 'person', name: 'Cy', persona: 'a dry sceptic who asks about cost and effort' },
};

export const conversationWorld: WorldDefinition = defineWorld({
  name: 'conversation',
  seed: 'worldline-conversation',
  initialState: { entities },
  handlers: {
    Say: {
      shape(p) {
        const text = (p as JsonObject | null)?.['text'];
        if (typeof p !== 'object' || p === null || Array.isArray(p) || typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT) return `Say needs text (1-${MAX_TEXT} characters).`;
        return undefined;
      },
      validate(_p, state, ctx) {
        if (ctx.agent_id === undefined) return undefined;
        return state.has(ctx.agent_id) ? undefined : { rule: 'speaker_exists', message: `Agent ${ctx.agent_id} has no entity in the room; spawn it first.` };
      },
      apply(p, m, ctx) {
        const speaker = ctx.agent_id ?? (((p as JsonObject)['entity_id'] as string | undefined) ?? '');
        const room = m.get('room');
        if (!room || !m.has(speaker)) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Say needs an existing speaker and room (speaker ${speaker}).`, { rule: 'speaker_exists' });
        const text = ((p as JsonObject)['text'] as string).trim();
        const line = (typeof room['count'] === 'number' ? room['count'] : 0) + 1;
        const lines = Array.isArray(room['lines']) ? [...(room['lines'] as JsonValue[])] : [];
        lines.push({ by: speaker, text, line });
        m.set('room', { lines: lines.slice(-ROOM_LINES), count: line });
        m.set(speaker, { said: { text, line } });
      },
    },
  },
  policies: { timebase: 'ticks', stateHashEvery: 1000, agentClasses: { default: { interrupt: 'always', stalenessThreshold: 0 } } },
});
