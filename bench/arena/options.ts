/** Command-line options of the load runner (`npm run bench -- arena|ws|sweep [options]`). */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Subprotocol } from '../../server/protocol/index.js';
import { UsageError } from '../lib.js';
import { defaultArenaOptions, type ArenaOptions } from './runner.js';

export const ARENA_USAGE = `arena-v1 options:
  --clients N            clients (arena only, default 100; ws and sweep run fixed counts)
  --entities E           entities in the world (arena only, default max(200, clients))
  --warmup S             warm-up seconds (default 5)
  --measure S            measured seconds (default 20)
  --codec json|msgpack|proto   subprotocol (default proto)
  --workers K            load-generator processes (default 2; 3 from 1,000 clients)
  --url URL              target a running server, e.g. ws://127.0.0.1:8080/v1/worlds/arena/ws
  --token-secret FILE    its HS256 secret (DATA/jwt-secret), to mint agent and admin tokens
  --server-pid PID       its pid, for CPU and RSS from /proc
  --tick-ms MS           the server's tick (default 50; passed to a server the runner starts)
  --world NAME           server world (default arena, or arena-E when E != 200)
  --server dist|tsx      run the server from dist/ (npm run build first) or from source with tsx (default)
  --durability D         log durability of a server the runner starts (default batch; none/always to compare)
  --gen-nice N           niceness of the load-generator processes (default 10, so a woken client does not preempt
                         the server mid-fan-out on a shared machine; 0: same priority as the server)
  --cpu-prof DIR         CPU profiles (node --cpu-prof) of the load generators and of a server the runner starts
  --channels             each load-generator process puts its clients on one WebSocket, a channel each (not arena-v1's
                         client model: to see what channels save the server)`;

const codecs: Record<string, Subprotocol> = { json: Subprotocol.JSON, msgpack: Subprotocol.MSGPACK, proto: Subprotocol.PROTO };

/** Thrown for a bad option; the message says what is allowed. */
export { UsageError };

function num(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function niceness(v: string): number {
  const n = num(v, 'gen-nice', 0) as number;
  if (!Number.isInteger(n) || n > 19) throw new UsageError(`--gen-nice must be an integer from 0 to 19, got ${JSON.stringify(v)}`);
  return n;
}

/** Parses the runner's options; `clients` falls back to `defaultClients`. */
export function parseArenaArgs(args: readonly string[], defaultClients = 100): ArenaOptions & { readonly clientsGiven: boolean; readonly entitiesGiven: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args], allowPositionals: false, strict: true,
      options: {
        clients: { type: 'string' }, entities: { type: 'string' }, warmup: { type: 'string' }, measure: { type: 'string' }, codec: { type: 'string' },
        workers: { type: 'string' }, url: { type: 'string' }, 'token-secret': { type: 'string' }, 'server-pid': { type: 'string' }, 'tick-ms': { type: 'string' },
        world: { type: 'string' }, server: { type: 'string' }, durability: { type: 'string' }, 'gen-nice': { type: 'string' },
        'cpu-prof': { type: 'string' }, channels: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${ARENA_USAGE}`);
  }
  const v = parsed.values;
  const clients = num(v.clients, 'clients', 1) ?? defaultClients;
  const codec = v.codec === undefined ? defaultArenaOptions.codec : codecs[v.codec];
  if (!codec) throw new UsageError(`--codec must be one of ${Object.keys(codecs).join(', ')}`);
  if (v.server !== undefined && v.server !== 'tsx' && v.server !== 'dist') throw new UsageError('--server must be tsx or dist');
  if (v.durability !== undefined && !['batch', 'none', 'always'].includes(v.durability)) throw new UsageError('--durability must be batch, none or always');
  const workers = num(v.workers, 'workers', 1);
  const pid = num(v['server-pid'], 'server-pid', 1);
  return {
    ...defaultArenaOptions,
    clients: Math.floor(clients),
    clientsGiven: v.clients !== undefined,
    entitiesGiven: v.entities !== undefined,
    entities: Math.floor(num(v.entities, 'entities', 1) ?? Math.max(200, clients)),
    warmupMs: (num(v.warmup, 'warmup', 0) ?? defaultArenaOptions.warmupMs / 1000) * 1000,
    measureMs: (num(v.measure, 'measure', 0.5) ?? defaultArenaOptions.measureMs / 1000) * 1000,
    codec,
    tickMs: num(v['tick-ms'], 'tick-ms', 1) ?? defaultArenaOptions.tickMs,
    from: (v.server as 'tsx' | 'dist' | undefined) ?? defaultArenaOptions.from,
    ...(workers !== undefined ? { workers: Math.floor(workers) } : {}),
    ...(v.url !== undefined ? { url: v.url } : {}),
    ...(v['token-secret'] !== undefined ? { tokenSecretFile: v['token-secret'] } : {}),
    ...(pid !== undefined ? { serverPid: pid } : {}),
    ...(v.world !== undefined ? { world: v.world } : {}),
    ...(v.durability !== undefined ? { durability: v.durability as 'batch' | 'none' | 'always' } : {}),
    ...(v['gen-nice'] !== undefined ? { genNice: niceness(v['gen-nice']) } : {}),
    ...(v['cpu-prof'] !== undefined ? { cpuProfDir: path.resolve(v['cpu-prof']) } : {}),
    ...(v.channels === true ? { channels: true } : {}),
  };
}
