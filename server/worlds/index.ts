/** The built-in worlds, by name (the server and `worldline replay` look worlds up here). */
import type { WorldDefinition } from '../core/index.js';
import { arena, makeArena } from './arena.js';
import { defaultWorld } from './default.js';
import { conversationWorld } from './conversation.js';

export { arena, arenaEntityId, makeArena, type ArenaOptions } from './arena.js';
export { defaultWorld } from './default.js';

export const worlds: Readonly<Record<string, WorldDefinition>> = Object.freeze({ default: defaultWorld, arena, conversation: conversationWorld });

/**
 * A world by name: a built-in one, or `arena-<E>` for the arena-v1 workload with E entities (the benchmark sweep
 * uses E = max(200, clients)). Undefined when the name is unknown.
 */
export function resolveWorld(name: string): WorldDefinition | undefined {
  const builtin = worlds[name];
  if (builtin) return builtin;
  const m = /^arena-(\d{1,6})$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 1 && n <= 200_000 ? makeArena({ entities: n, name }) : undefined;
}
