/** The built-in worlds, by name, and worlds from module files (the server and `worldline replay` look worlds up here). */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineWorld, type WorldDefinition, type WorldSpec } from '../core/index.js';
import { WorldlineError } from '../errors.js';
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
  const builtin = Object.hasOwn(worlds, name) ? worlds[name] : undefined;
  if (builtin) return builtin;
  const m = /^arena-(\d{1,6})$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 1 && n <= 200_000 ? makeArena({ entities: n, name }) : undefined;
}

/** Whether `world` names a module file (a path, or a .js/.mjs/.cjs name) rather than a built-in world. */
export function isWorldModule(world: string): boolean {
  return /^\.{0,2}\//.test(world) || /\.(?:m|c)?js$/.test(world);
}

/** The world id a module's world gets by default: its file name without the extension (./sims/market.mjs: market). */
export function worldModuleId(world: string): string {
  return path.basename(world).replace(/\.(?:m|c)?js$/, '');
}

/** A frozen object shaped like defineWorld's result (as opposed to the spec one passes to it). */
function isDefinition(x: object): x is WorldDefinition {
  const d = x as Partial<WorldDefinition>;
  return Object.isFrozen(x) && typeof d.schema_version === 'string' && Array.isArray(d.validators) && typeof d.handlers === 'object';
}

/**
 * A world by name (built-in, arena-<E>) or from a module file, resolved against `cwd`: its default export (or one
 * named `world`), either defineWorld's result or the spec one would pass to it. Every failure is CONFIG_INVALID
 * saying what to do.
 */
export async function loadWorld(world: string, cwd: string = process.cwd()): Promise<WorldDefinition> {
  if (!isWorldModule(world)) {
    const w = resolveWorld(world);
    if (!w) throw new WorldlineError('CONFIG_INVALID', `unknown world ${JSON.stringify(world)}; built-in worlds: ${Object.keys(worlds).join(', ')}, or arena-<entities>, or a module file (./my-world.mjs) whose default export is a defineWorld spec`, { world });
    return w;
  }
  const file = path.resolve(cwd, world);
  if (!fs.existsSync(file)) throw new WorldlineError('CONFIG_INVALID', `world module ${file} does not exist`, { world, file });
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    // Node runs JavaScript modules; a TypeScript world needs compiling, or a loader such as tsx.
    const hint = (err as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' ? '; compile it to .mjs, or run the server with node --import tsx bin/worldline.js' : '';
    throw new WorldlineError('CONFIG_INVALID', `world module ${file} failed to load: ${(err as Error).message}${hint}`, { world, file }, { cause: err });
  }
  const exported = mod['default'] ?? mod['world'];
  if (exported === null || typeof exported !== 'object') {
    throw new WorldlineError('CONFIG_INVALID', `world module ${file} exports no world: make its default export (or an export named world) defineWorld({ name, seed, ... }) or the spec object itself`, { world, file });
  }
  return isDefinition(exported) ? exported : defineWorld(exported as WorldSpec);
}
