/**
 * `worldline` command line: serve, token, worlds, demo, verify, inspect, repair, compact, keygen and replay. Each command returns an exit code; errors
 * are printed with their stable code and what to do.
 */
import { parseArgs } from 'node:util';
import { WorldlineError } from '../errors.js';
import { parseHostedWorld } from '../config.js';
import { runVerify, runInspect, runRepair, runCompact, runKeygen } from './log-commands.js';
import { runDemo } from './demo.js';
import { runServe, runToken } from './serve.js';
import { runReplay } from './replay.js';
import { runWorlds } from './worlds.js';

const USAGE = `usage: worldline <command> [options]

commands:
  serve [--port P] [--host H] [--data DIR] [--world NAME|FILE]... [--config FILE]
                                         host a world over WebSocket (default world, 127.0.0.1:8080, data in ./data);
                                         FILE: a module (./my-world.mjs) whose default export is a defineWorld spec;
                                         --world again hosts several, each [TENANT/][ID=]NAME|FILE (lobby=default)
  token [--agent NAME] [--role ROLE] [--ttl SEC] [--data DIR] [--world ID] [--tenant T]
                                         issue a development token (HS256 secret in DIR) for a world served here;
                                         --agent is needed for role agent (the default), left out for an engine
  worlds list | get ID | sessions ID | create ID WORLD [--idle SEC] [--purge] | delete ID [--purge]
         [--port P] [--host H] [--url URL] [--token T] [--tenant T] [--data DIR]
                                         a running server's worlds, over its REST API, with an admin token
                                         signed with the secret in DIR (or --token): WORLD is a definition it has
  demo [--data DIR] [--records N]        build a sample world log in DIR (default ./data), sign, snapshot and verify it
  verify DIR [--pubkey FILE] [--json]    check CRCs, seq contiguity, the hash chain and signed checkpoints
  inspect DIR [--from N] [--to M] [--json]  print records, one per line
  repair DIR --truncate-from SEQ         move records SEQ.. aside (.broken files) so a damaged log opens again
  compact DIR                            delete the segments no kept snapshot needs (what logRetention snapshots does live)
  keygen DIR                             write an Ed25519 key pair (checkpoint.key, checkpoint.pub) into DIR
  replay DIR [--to SEQ] [--verify-determinism] [--world NAME|FILE] [--json]
                                         rebuild the world from its log; exit 1 naming the first divergent seq

exit codes: 0 ok; 1 invalid or corrupt log; 2 usage error; 3 torn tail only (the next open truncates it);
            4 a file or folder could not be read or written (permissions, read-only or failing disk)`;

export type Out = { out: (s: string) => void; err: (s: string) => void };

/**
 * Writes lines to stdout or stderr until its reader goes away (EPIPE: `serve | head -1`, or a pipe's reader killed by
 * the same Ctrl-C), then drops them. Without a listener, that write error is an uncaught 'error' event: a server that
 * says "shutting down" on a closed stdout would crash instead (exit 1, no final snapshot).
 */
function lineWriter(stream: NodeJS.WriteStream): (s: string) => void {
  let gone = false;
  let watched = false;
  return (s) => {
    if (gone || stream.destroyed) return;
    if (!watched) {
      watched = true;
      stream.on('error', () => (gone = true));
    }
    stream.write(s + '\n');
  };
}
const stdio: Out = { out: lineWriter(process.stdout), err: lineWriter(process.stderr) };

/** Runs the CLI with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: Out = stdio): Promise<number> {
  const [command, ...rest] = argv;
  // `worldline serve --help` (any command's --help or -h, before a `--`) is a request for help, not a usage error.
  const end = rest.indexOf('--');
  if (command !== undefined && (end === -1 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
    io.out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'verify': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: { pubkey: { type: 'string' }, json: { type: 'boolean' } } });
        return await runVerify(dirArg(a.positionals), a.values.pubkey, a.values.json ?? false, io);
      }
      case 'inspect': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } } });
        return runInspect(dirArg(a.positionals), seqArg(a.values.from, 'from'), seqArg(a.values.to, 'to'), a.values.json ?? false, io);
      }
      case 'repair': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: { 'truncate-from': { type: 'string' } } });
        const seq = seqArg(a.values['truncate-from'], 'truncate-from');
        if (seq === undefined) throw new WorldlineError('CONFIG_INVALID', 'repair needs --truncate-from SEQ: the first seq to move aside (verify names the first bad seq)');
        return await runRepair(dirArg(a.positionals), seq, io);
      }
      case 'compact': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: {} });
        return await runCompact(dirArg(a.positionals), io);
      }
      case 'replay': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: { to: { type: 'string' }, 'verify-determinism': { type: 'boolean' }, world: { type: 'string' }, json: { type: 'boolean' } } });
        return await runReplay(dirArg(a.positionals), { to: seqArg(a.values.to, 'to'), verify: a.values['verify-determinism'] ?? false, world: a.values.world, json: a.values.json ?? false }, io);
      }
      case 'keygen': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: {} });
        return runKeygen(dirArg(a.positionals), io);
      }
      case 'serve': {
        const a = parseArgs({ args: rest, allowPositionals: false, options: { port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' }, world: { type: 'string', multiple: true }, config: { type: 'string' } } });
        const v = a.values;
        // One --world is the world to host; several (or one written ID=WORLD) are the worlds list.
        const worlds = v.world ?? [];
        const many = worlds.length > 1 || (worlds.length === 1 && parseHostedWorld(worlds[0] as string, '').world !== worlds[0]);
        return await runServe({ config: v.config, overrides: { port: v.port, host: v.host, dataDir: v.data, ...(many ? { worlds } : { world: worlds[0] }) } }, io);
      }
      case 'token': {
        const a = parseArgs({ args: rest, allowPositionals: false, options: { agent: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string' }, data: { type: 'string' }, world: { type: 'string' }, tenant: { type: 'string' }, config: { type: 'string' } } });
        const v = a.values;
        return await runToken({ agent: v.agent, role: v.role, ttl: seqArg(v.ttl, 'ttl'), world: v.world, tenant: v.tenant, config: v.config, overrides: { dataDir: v.data } }, io);
      }
      case 'worlds': {
        const a = parseArgs({ args: rest, allowPositionals: true, options: { url: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' }, tenant: { type: 'string' }, idle: { type: 'string' }, purge: { type: 'boolean' }, data: { type: 'string' }, config: { type: 'string' } } });
        const v = a.values;
        // --port and --host find the server as serve's flags placed it (else the configuration's, else 127.0.0.1:8080).
        return await runWorlds({ args: a.positionals, url: v.url, token: v.token, tenant: v.tenant, idle: seqArg(v.idle, 'idle'), purge: v.purge, config: v.config, overrides: { dataDir: v.data, port: v.port, host: v.host } }, io);
      }
      case 'demo': {
        const a = parseArgs({ args: rest, allowPositionals: false, options: { data: { type: 'string' }, records: { type: 'string' } } });
        return await runDemo(a.values.data ?? './data', seqArg(a.values.records, 'records') ?? 20_000, io);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        io.err(`worldline: unknown command ${JSON.stringify(command)}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof WorldlineError) {
      io.err(`worldline: ${err.codeName} (${err.code}): ${err.message}`);
      return err.codeName === 'CONFIG_INVALID' ? 2 : 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && typeof e.path === 'string' && /\.(?:wlseg|wlsnap)$/.test(e.path)) {
      // A live server's log: compaction deleted a segment, or a new snapshot pushed an old one out, mid-read.
      io.err(`worldline: ${e.path} went away while it was being read (a running server deletes segments under logRetention snapshots and keeps only its two newest snapshots); run the command again`);
      return 1;
    }
    const access = FILE_ERRORS[e.code ?? ''];
    if (access !== undefined && typeof e.path === 'string') {
      // Not damage, and no stack trace: this user cannot reach the files (or the disk refuses), so say which file and what to do.
      io.err(`worldline: cannot ${e.syscall ?? 'access'} ${e.path}: ${access}`);
      return 4;
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`worldline: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

/** File system errors a command meets on a log it may not touch, and what the operator can do about each. */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied (EACCES); run the command as the user that owns the log (the one the server runs as), or give this user access to it',
  EPERM: 'operation not permitted (EPERM); run the command as the user that owns the log (the one the server runs as), or give this user access to it',
  EROFS: 'the file system is read-only (EROFS); verify, inspect and replay only read, while repair, compact and serve need it writable',
  EIO: 'input/output error (EIO): the disk is failing; copy the log elsewhere (or restore it from a backup) and run the command there',
};

function dirArg(positionals: string[]): string {
  if (positionals.length !== 1) throw new WorldlineError('CONFIG_INVALID', `expected exactly one log directory, got ${positionals.length}`);
  return positionals[0]!;
}

function seqArg(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new WorldlineError('CONFIG_INVALID', `--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}
