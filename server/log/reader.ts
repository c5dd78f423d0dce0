/**
 * Sequential reads from any seq: seek to the nearest sparse-index entry of the right segment, then stream frames
 * from large chunks. Each frame's CRC is checked (bit rot after startup is still caught); the chain was checked at
 * recovery and is not recomputed here.
 */
import fs from 'node:fs';
import { WorldlineError } from '../errors.js';
import type { LogRecord } from '../core/ports.js';
import { FrameStatus, checkFrame, frameHash, frameKind, framePayload, frameSeq, frameTotal } from './format.js';

const CHUNK = 1024 * 1024;

/** What a reader needs to know about one segment. */
export interface SegmentInfo {
  readonly file: string;
  readonly firstSeq: number;
  readonly headerSize: number;
  /** Flat [seq, offset, ...] sparse index. */
  readonly index: number[];
}

/** Yields records fromSeq..toSeq (inclusive) from the given segments (ordered by firstSeq). */
export function* readRecords(segments: readonly SegmentInfo[], fromSeq: number, toSeq: number): Generator<LogRecord> {
  if (fromSeq > toSeq) return;
  let si = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= fromSeq) si = i;
  for (; si < segments.length; si++) {
    const seg = segments[si]!;
    if (seg.firstSeq > toSeq) return;
    let off = seg.headerSize;
    for (let i = 0; i + 1 < seg.index.length && seg.index[i]! <= fromSeq; i += 2) off = seg.index[i + 1]!;
    let fd: number;
    try {
      fd = fs.openSync(seg.file, 'r');
    } catch (err) {
      throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `segment ${seg.file} is gone (compacted while reading?)`, { fromSeq }, { cause: err });
    }
    try {
      let buf = Buffer.allocUnsafe(CHUNK);
      let len = 0;
      let pos = 0;
      for (;;) {
        const st = checkFrame(buf, pos, len);
        if (st === FrameStatus.INCOMPLETE) {
          const keep = len - pos;
          const want = pos + 4 <= len ? frameTotal(buf, pos) : 0;
          // A fresh buffer per refill: yielded payloads are views into the previous one and must stay valid.
          const next = Buffer.allocUnsafe(Math.max(CHUNK, want));
          buf.copy(next, 0, pos, len);
          const n = fs.readSync(fd, next, keep, next.length - keep, off + keep);
          buf = next;
          len = keep + n;
          pos = 0;
          if (n === 0) break; // end of segment (the writer's in-flight tail is excluded by toSeq)
          continue;
        }
        if (st !== FrameStatus.OK) {
          throw new WorldlineError('LOG_CORRUPTION_DETECTED', `frame at offset ${off} of ${seg.file} failed its CRC check on read; run \`worldline verify\``, { file: seg.file, offset: off });
        }
        const seq = frameSeq(buf, pos);
        const total = frameTotal(buf, pos);
        if (seq > toSeq) return;
        if (seq >= fromSeq) {
          yield { seq, kind: frameKind(buf, pos), payload: framePayload(buf, pos), hash: frameHash(buf, pos) };
        }
        // Done: what follows toSeq may be a torn tail or a write in flight, which is no reader's business.
        if (seq === toSeq) return;
        pos += total;
        off += total;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}
