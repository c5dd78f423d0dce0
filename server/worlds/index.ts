/** The built-in worlds, by name (the server and `worldline replay` look worlds up here). */
import type { WorldDefinition } from '../core/index.js';
import { arena } from './arena.js';
import { defaultWorld } from './default.js';
import { conversationWorld } from './conversation.js';

export { arena, arenaEntityId, makeArena, type ArenaOptions } from './arena.js';
export { defaultWorld } from './default.js';

export const worlds: Readonly<Record<string, WorldDefinition>> = Object.freeze({ default: defaultWorld, arena, conversation: conversationWorld });
