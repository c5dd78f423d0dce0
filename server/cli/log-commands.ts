/** CLI commands over a log directory: verify, inspect, repair, compact, keygen. */
import fs from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { WorldlineError } from '../errors.js';
import { analyzeLog, openLog, verifyLog } from '../log/index.js';
import { readRecords } from '../log/reader.js';
import { listSnapshotFiles } from '../log/snapshots.js';
import type { Out } from './main.js';

/** Whether `file` exists; an error other than ENOENT (EACCES: a folder this user may not enter) is thrown, not taken for "no". */
function exists(file: string): boolean {
  try {
    fs.statSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}

/** Throws CONFIG_INVALID, naming the logs it can see nearby, when `dir` is not a log directory. */
export function requireLogDir(dir: string): void {
  // Snapshots without segments are a log whose segments were lost: verify says so, rather than "no log here". A
  // snapshots/ folder with no snapshot in it is no sign of a log: verify would report "ok: 0 records".
  if (exists(path.join(dir, 'segments')) || listSnapshotFiles(dir).length > 0) return;
  // A server's data folder (serve --data) holds one log per world, under worlds/<id>; demo's (demo --data) holds its
  // log in demo/: name them.
  const logsIn = (d: string): string[] => {
    try {
      return fs.readdirSync(d).filter((w) => fs.existsSync(path.join(d, w, 'segments'))).sort().map((w) => path.join(d, w));
    } catch {
      return [];
    }
  };
  const worlds = logsIn(path.join(dir, 'worlds'));
  const others = logsIn(dir);
  const hint = worlds.length > 0
    ? `it is a server's data folder: pass one world's log, ${worlds.slice(0, 5).join(', ')}${worlds.length > 5 ? ', ...' : ''}`
    : others.length > 0
      ? `it holds ${others.length === 1 ? 'a log' : 'logs'} one level down: pass ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''}`
      : `pass a world's log directory: DATA/worlds/<world id> for a served world (e.g. ./data/worlds/default), or DATA/demo for \`worldline demo --data DATA\``;
  throw new WorldlineError('CONFIG_INVALID', `${dir} holds no Worldline log (no segments/ folder); ${hint}`, { dir });
}

export async function runVerify(dir: string, pubkeyFile: string | undefined, json: boolean, io: Out): Promise<number> {
  requireLogDir(dir);
  let publicKey: string | undefined;
  if (pubkeyFile !== undefined) {
    try {
      publicKey = fs.readFileSync(pubkeyFile, 'utf8');
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `cannot read --pubkey ${pubkeyFile}: ${(err as Error).message}`);
    }
  }
  const r = await verifyLog(dir, publicKey === undefined ? {} : { publicKey });
  if (json) io.out(JSON.stringify(r));
  for (const w of r.warnings) if (!json) io.err(`warning: ${w}`);
  if (r.ok) {
    if (!json) {
      const signed = r.checkpoints ? `, ${r.checkpoints.verified} signed checkpoints (signed through seq ${r.checkpoints.signedThrough})` : '';
      const from = r.anchoredFrom === 'genesis' ? 'genesis' : `snapshot anchor seq ${r.anchoredFrom}`;
      io.out(`ok: ${r.records} records, last seq ${r.lastSeq}, head ${r.headHash}, ${r.segments} segments, verified from ${from}${signed}`);
    }
    return 0;
  }
  const p = r.problem!;
  if (!json) {
    if (p.torn) io.err(`torn tail at seq ${p.seq}: ${p.reason} (${path.basename(p.file)} offset ${p.offset}); the next open copies it aside and truncates. ${r.records} intact records before it.`);
    else io.err(`${p.code}: first bad seq ${p.seq}: ${p.reason} (${path.basename(p.file)} offset ${p.offset})${p.advice ? `. To fix: ${p.advice}` : ''}`);
  }
  return p.torn ? 3 : 1;
}

/** Decodes a payload for display: JSON when it parses, base64 otherwise. */
function decodePayload(payload: Uint8Array): unknown {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { base64: Buffer.from(payload).toString('base64') };
  }
}

export function runInspect(dir: string, from: number | undefined, to: number | undefined, json: boolean, io: Out): number {
  requireLogDir(dir);
  // Inspect must work on a damaged log too: read the intact prefix that analysis found.
  const a = analyzeLog(dir);
  if (a.problem) io.err(`warning: log is intact only through seq ${a.problem.seq - 1} (${a.problem.reason}); showing that part`);
  const segs = a.segments.map((s) => ({ file: s.file, firstSeq: s.header.firstSeq, headerSize: s.headerSize, index: s.index }));
  const start = Math.max(from ?? a.firstSeq, a.firstSeq);
  const end = Math.min(to ?? a.lastSeq, a.lastSeq);
  for (const r of readRecords(segs, start, end)) {
    const hash = Buffer.from(r.hash).toString('hex');
    if (json) {
      io.out(JSON.stringify({ seq: r.seq, kind: r.kind, hash, bytes: r.payload.length, payload: decodePayload(r.payload) }));
    } else {
      const p = JSON.stringify(decodePayload(r.payload));
      io.out(`${String(r.seq).padStart(8)}  ${r.kind.padEnd(12)} ${hash.slice(0, 16)}  ${String(r.payload.length).padStart(6)}B  ${p.length > 140 ? p.slice(0, 137) + '...' : p}`);
    }
  }
  return 0;
}

/**
 * Opens a log for writing from the CLI. A running server holds its lock; the log layer's LOG_LOCKED says to use
 * another --data directory, which repair and compact do not take: say what does help here.
 */
async function openForCommand(dir: string, command: string, opts: Parameters<typeof openLog>[1]): Promise<Awaited<ReturnType<typeof openLog>>> {
  try {
    return await openLog(dir, opts);
  } catch (err) {
    if (!(err instanceof WorldlineError) || err.codeName !== 'LOG_LOCKED') throw err;
    const pid = (err.details as { pid?: unknown }).pid;
    const live = command === 'compact' ? ' (or let it compact the log itself: logRetention "snapshots", docs/server.md)' : '';
    throw new WorldlineError('LOG_LOCKED', `${dir} is in use by a running server (process ${String(pid)}); ${command} needs the log to itself: stop that server first${live}`, err.details as Record<string, unknown>);
  }
}

export async function runRepair(dir: string, truncateFromSeq: number, io: Out): Promise<number> {
  requireLogDir(dir);
  const moved: string[] = [];
  const log = await openForCommand(dir, 'repair', {
    truncateFromSeq,
    onFsyncFailure: 'fail',
    onEvent: (e, d) => {
      if (e === 'repaired') moved.push(...(d['movedAside'] as string[]));
    },
  });
  const last = log.lastSeq;
  await log.close();
  io.out(`repaired: log now ends at seq ${last}; moved aside: ${moved.length ? moved.join(', ') : 'nothing'}`);
  return 0;
}

/** Deletes the segments wholly before the older of the two kept snapshots (what logRetention 'snapshots' does live). */
export async function runCompact(dir: string, io: Out): Promise<number> {
  requireLogDir(dir);
  const log = await openForCommand(dir, 'compact', { onFsyncFailure: 'fail' });
  try {
    const kept = log.snapshots();
    const removed = await log.compact();
    if (removed.length > 0) io.out(`compacted: deleted ${removed.length} segment(s); the log now holds seq ${log.firstSeq}..${log.lastSeq}`);
    else if (kept.length === 0) io.out(`nothing to compact: the log has no snapshot yet (a running server writes one every snapshotEvery effects and at shutdown)`);
    else io.out(`nothing to compact: no segment lies wholly before seq ${(kept[kept.length - 1]?.anchorSeq ?? 0) + 1}, the older kept snapshot's anchor + 1; the log holds seq ${log.firstSeq}..${log.lastSeq}`);
  } finally {
    await log.close();
  }
  return 0;
}

export function runKeygen(dir: string, io: Out): number {
  fs.mkdirSync(dir, { recursive: true });
  const priv = path.join(dir, 'checkpoint.key');
  if (fs.existsSync(priv)) throw new WorldlineError('CONFIG_INVALID', `${priv} exists; refusing to overwrite a signing key`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  fs.writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'checkpoint.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  io.out(`wrote ${priv} (keep it secret) and ${path.join(dir, 'checkpoint.pub')}`);
  return 0;
}
