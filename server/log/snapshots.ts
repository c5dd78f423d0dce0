/**
 * State snapshots beside the log: the state bytes, the anchor (seq, hash) they correspond to, and a SHA-256 over
 * the whole file. Written atomically; the newest `keep` are kept.
 *
 *   0   4   magic "WLSN"          8   u64 anchorSeq          48  u32 meta length n
 *   4   u16 version, u16 flags    16  32  anchorHash         52  n   canonical JSON {log_id, world_id}
 *   52+n u64 state length s; 60+n s state bytes; then 32 bytes SHA-256 of everything before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hash as sha256 } from 'node:crypto';
import { WorldlineError } from '../errors.js';
import { HASH_BYTES, canonicalBytes, readU64, writeU64 } from './format.js';
import { filesMatching, mkdirDurableSync, writeFully, type FileLayer } from './files.js';

const MAGIC = 0x4e534c57; // "WLSN"
const VERSION = 1;
export const SNAPSHOT_SUFFIX = '.wlsnap';
export const SNAPSHOT_DIR = 'snapshots';

export interface Snapshot {
  readonly file: string;
  readonly anchorSeq: number;
  readonly anchorHash: Buffer;
  readonly logId: string;
  readonly worldId: string;
  readonly state: Buffer;
}

export function encodeSnapshot(logId: string, worldId: string, anchorSeq: number, anchorHash: Buffer, state: Uint8Array): Buffer {
  const meta = canonicalBytes({ log_id: logId, world_id: worldId });
  const size = 60 + meta.length + state.length + HASH_BYTES;
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt16LE(VERSION, 4);
  buf.writeUInt16LE(0, 6);
  writeU64(buf, anchorSeq, 8);
  anchorHash.copy(buf, 16, 0, HASH_BYTES);
  buf.writeUInt32LE(meta.length, 48);
  meta.copy(buf, 52);
  writeU64(buf, state.length, 52 + meta.length);
  buf.set(state, 60 + meta.length);
  sha256('sha256', buf.subarray(0, size - HASH_BYTES), 'buffer').copy(buf, size - HASH_BYTES);
  return buf;
}

/** Reads and checks one snapshot file; returns a reason string when it does not pass. */
export function readSnapshotFile(file: string): Snapshot | string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  if (buf.length < 60 + HASH_BYTES || buf.readUInt32LE(0) !== MAGIC) return 'not a snapshot file (bad magic or too short)';
  if (buf.readUInt16LE(4) !== VERSION) return `unsupported snapshot version ${buf.readUInt16LE(4)}`;
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  if (!sha256('sha256', body, 'buffer').equals(buf.subarray(buf.length - HASH_BYTES))) return 'checksum mismatch';
  const n = buf.readUInt32LE(48);
  if (52 + n + 8 > body.length) return 'bad meta length';
  const s = readU64(buf, 52 + n);
  if (60 + n + s !== body.length) return 'bad state length';
  let meta: { log_id?: unknown; world_id?: unknown };
  try {
    meta = JSON.parse(buf.toString('utf8', 52, 52 + n)) as { log_id?: unknown; world_id?: unknown };
  } catch {
    return 'meta is not JSON';
  }
  if (typeof meta.log_id !== 'string') return 'meta lacks log_id';
  if (typeof meta.world_id !== 'string') return 'meta lacks world_id';
  return {
    file,
    anchorSeq: readU64(buf, 8),
    anchorHash: Buffer.from(buf.subarray(16, 16 + HASH_BYTES)),
    logId: meta.log_id,
    worldId: meta.world_id,
    state: buf.subarray(60 + n, 60 + n + s),
  };
}

/** Snapshot files of a log directory, newest anchor first (by name: no file is opened). */
export function listSnapshotFiles(dir: string): Array<{ file: string; anchorSeq: number }> {
  return filesMatching(path.join(dir, SNAPSHOT_DIR), /^\d{20}\.wlsnap$/)
    .map((file) => ({ file, anchorSeq: Number(path.basename(file).slice(0, 20)) }))
    .sort((a, b) => b.anchorSeq - a.anchorSeq);
}

/** One snapshot file as read: the snapshot, or why it does not pass its own checks. */
export interface SnapshotRead {
  readonly file: string;
  readonly anchorSeq: number;
  readonly read: Snapshot | string;
}

/**
 * Reads and checks every snapshot file of a log directory, newest first. Recovery and verify call this before they
 * list the segments: a snapshot exists only once its anchor is durable, so on a live directory every segment listed
 * afterwards still holds that anchor (or was compacted away, which the scan notices as a vanished file).
 */
export function readSnapshots(dir: string): SnapshotRead[] {
  return listSnapshotFiles(dir).map(({ file, anchorSeq }) => ({ file, anchorSeq, read: readSnapshotFile(file) }));
}

/** The snapshots read that pass their checksum and name this log and world; the others are reported through onBad. */
export function snapshotsOfLog(read: readonly SnapshotRead[], logId: string, worldId: string, onBad?: (file: string, reason: string) => void): Snapshot[] {
  const out: Snapshot[] = [];
  for (const { file, anchorSeq, read: s } of read) {
    if (typeof s === 'string') onBad?.(file, s);
    else if (s.logId !== logId) onBad?.(file, `belongs to log ${s.logId}, not ${logId}`);
    else if (s.worldId !== worldId) onBad?.(file, `belongs to world ${s.worldId}, not ${worldId}`);
    else if (s.anchorSeq !== anchorSeq) onBad?.(file, 'file name and anchor seq disagree');
    else out.push(s);
  }
  return out;
}

/** `<name>.tmp` files a snapshot write leaves when the process dies before its rename (see writeSnapshotFile). */
export function strayTempSnapshots(dir: string): string[] {
  return filesMatching(path.join(dir, SNAPSHOT_DIR), /^\d{20}\.wlsnap\.tmp$/);
}

/**
 * Atomically writes a snapshot (temporary file, fsync, rename, fsync of the directory) and deletes all but the newest
 * `keep` snapshot files that `counts` (default: all). Files it does not count (snapshots the log ignores, such as another log's or a
 * damaged one) are left alone and take no place among the kept: by name they may be the
 * newest, and would push out the one just written. Asynchronous, through the log's file layer: a snapshot can be
 * hundreds of megabytes, and its write and fsync must not hold up the event loop (ticks, fan-out, sockets).
 */
export async function writeSnapshotFile(files: FileLayer, dir: string, data: Buffer, anchorSeq: number, keep: number, counts: (file: string) => boolean = () => true): Promise<string> {
  if (keep < 1) throw new WorldlineError('CONFIG_INVALID', `snapshots to keep must be at least 1, got ${keep}`);
  const sdir = path.join(dir, SNAPSHOT_DIR);
  mkdirDurableSync(sdir);
  const name = String(anchorSeq).padStart(20, '0') + SNAPSHOT_SUFFIX;
  const written = path.join(sdir, name);
  const tmp = `${written}.tmp`;
  try {
    const fd = await files.open(tmp, 'w');
    try {
      await writeFully(files, fd, data, 0, data.length, 0);
      await files.fsync(fd);
    } finally {
      await files.close(fd);
    }
    await files.rename(tmp, written);
  } catch (err) {
    // A half-written temporary file (a full disk) would hold the space the log needs: removed now, not at the next start.
    await files.unlink(tmp).catch(() => {});
    throw err;
  }
  await files.fsyncDir(sdir);
  const all = listSnapshotFiles(dir).filter((s) => s.file === written || counts(s.file));
  let removed = false;
  for (const old of all.slice(keep)) {
    fs.rmSync(old.file, { force: true });
    removed = true;
  }
  if (removed) await files.fsyncDir(sdir);
  return written;
}
