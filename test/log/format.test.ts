/**
 * The v1 frame format: the frame checker fed every proper prefix of real frames (as a parser fed in pieces is), and
 * a golden segment checked in under test/fixtures so an accidental format change fails here, not in the field.
 * Set WORLDLINE_UPDATE_GOLDEN=1 to rewrite the golden file after a deliberate format change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FrameStatus, checkFrame } from '../../server/log/format.js';
import { openLog, verifyLog } from '../../server/log/index.js';
import { appendRecords, computeLayout, encodeFrame, expectRecords, readAll, testLogOptions, useTempDirs, type Rec } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-format-');
const GOLDEN_DIR = fileURLToPath(new URL('../fixtures/log-v1/', import.meta.url));
const GOLDEN_SEGMENT = path.join(GOLDEN_DIR, 'segments', '00000000000000000001.wlseg');

/** Frames of a real log: varied kinds (1 and 255 bytes), empty and larger payloads. */
async function realFrames(): Promise<Buffer[]> {
  const dir = tempDir();
  const log = await openLog(dir, testLogOptions({ segmentBytes: 1024 * 1024 }));
  const shapes: Rec[] = [
    { kind: 'e', payload: Buffer.alloc(0) },
    { kind: 'effect', payload: Buffer.from('{"a":1}') },
    { kind: 'k'.repeat(255), payload: Buffer.from('x') },
    { kind: 'outcome', payload: Buffer.alloc(3000, 0xab) },
    { kind: 'z', payload: Buffer.alloc(40, 0) },
  ];
  const records = await appendRecords(log, shapes.length, (s) => shapes[s - 1]!);
  await log.close();
  const bytes = fs.readFileSync(computeLayout(dir, records).segments[0]!.file);
  return computeLayout(dir, records).frames.map((f) => bytes.subarray(f.offset, f.offset + f.size));
}

describe('checkFrame fed in pieces', () => {
  it('is INCOMPLETE for every proper prefix and OK for the whole frame, alone or inside a larger buffer', async () => {
    const frames = await realFrames();
    expect(frames.length).toBe(5);
    for (const frame of frames) {
      for (let len = 0; len < frame.length; len++) {
        expect(checkFrame(Buffer.from(frame.subarray(0, len)), 0, len), `prefix of ${len}/${frame.length} bytes`).toBe(FrameStatus.INCOMPLETE);
      }
      expect(checkFrame(Buffer.from(frame), 0, frame.length)).toBe(FrameStatus.OK);
      // At an offset, with unrelated bytes after the valid end that the checker must not look at.
      const host = Buffer.alloc(frame.length + 64, 0x5a);
      frame.copy(host, 7);
      for (let len = 0; len < frame.length; len += 1 + (len % 5)) {
        const trial = Buffer.from(host);
        trial.fill(0xff, 7 + len);
        expect(checkFrame(trial, 7, 7 + len), `embedded prefix of ${len}`).toBe(FrameStatus.INCOMPLETE);
      }
      expect(checkFrame(host, 7, 7 + frame.length)).toBe(FrameStatus.OK);
      expect(checkFrame(host, 7, host.length)).toBe(FrameStatus.OK);
    }
  });

  it('reports BAD_LENGTH for impossible lengths and kind lengths, and BAD_CRC for a changed byte', async () => {
    const [, frame] = await realFrames();
    const f = Buffer.from(frame!);
    const withLen = (n: number): Buffer => {
      const b = Buffer.from(f);
      b.writeUInt32LE(n, 0);
      return b;
    };
    expect(checkFrame(withLen(9), 0, f.length)).toBe(FrameStatus.BAD_LENGTH);
    expect(checkFrame(withLen(0), 0, f.length)).toBe(FrameStatus.BAD_LENGTH);
    expect(checkFrame(withLen(0xffffffff), 0, f.length)).toBe(FrameStatus.BAD_LENGTH);
    const zeroKind = Buffer.from(f);
    zeroKind[12] = 0;
    expect(checkFrame(zeroKind, 0, f.length)).toBe(FrameStatus.BAD_LENGTH);
    const longKind = Buffer.from(f);
    longKind[12] = 250;
    expect(checkFrame(longKind, 0, f.length)).toBe(FrameStatus.BAD_LENGTH);
    for (let i = 4; i < f.length; i++) {
      if (i === 12) continue;
      const b = Buffer.from(f);
      b[i]! ^= 0x01;
      expect(checkFrame(b, 0, b.length), `flip at ${i}`).toBe(FrameStatus.BAD_CRC);
    }
  });

  it('agrees with the spec: a frame encoded from docs/log-format.md is byte-identical to the one the log wrote', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    const r1 = await log.append('effect', Buffer.from('first'));
    const r2 = await log.append('outcome', Buffer.from('second'));
    await log.close();
    const records = new Map<number, Rec>([[1, { kind: 'effect', payload: Buffer.from('first') }], [2, { kind: 'outcome', payload: Buffer.from('second') }]]);
    const layout = computeLayout(dir, records);
    const bytes = fs.readFileSync(layout.segments[0]!.file);
    const f2 = layout.frame(2);
    const mine = encodeFrame(2, 'outcome', Buffer.from('second'), Buffer.from(r1.hash));
    expect(mine.equals(bytes.subarray(f2.offset, f2.offset + f2.size))).toBe(true);
    expect(mine.subarray(mine.length - 36, mine.length - 4).equals(Buffer.from(r2.hash))).toBe(true);
  });
});

describe('golden segment (format v1)', () => {
  const goldenRecords = (): Map<number, Rec> =>
    new Map<number, Rec>([
      [1, { kind: 'effect', payload: Buffer.from('{"agent":"a1","move":[1,0]}') }],
      [2, { kind: 'outcome', payload: Buffer.from('{"ok":true}') }],
      [3, { kind: 'state-hash', payload: Buffer.alloc(32, 0x11) }],
      [4, { kind: 'e', payload: Buffer.alloc(0) }],
    ]);

  async function writeGolden(dir: string): Promise<void> {
    const log = await openLog(dir, {
      create: { worldId: 'golden-world', worldSeed: '1234', logId: '00000000-0000-4000-8000-000000000001', createdAt: 1_700_000_000_000 },
      onFsyncFailure: 'fail',
    });
    for (const [, r] of goldenRecords()) await log.append(r.kind, r.payload);
    await log.close();
  }

  it('the same records and identity produce the checked-in bytes', async () => {
    const dir = tempDir();
    await writeGolden(dir);
    const written = fs.readFileSync(path.join(dir, 'segments', '00000000000000000001.wlseg'));
    if (process.env['WORLDLINE_UPDATE_GOLDEN'] === '1') {
      fs.mkdirSync(path.dirname(GOLDEN_SEGMENT), { recursive: true });
      fs.writeFileSync(GOLDEN_SEGMENT, written);
    }
    const golden = fs.readFileSync(GOLDEN_SEGMENT);
    expect(written.toString('hex')).toBe(golden.toString('hex'));
  });

  it('the checked-in segment opens, reads and verifies', async () => {
    const dir = tempDir();
    fs.cpSync(GOLDEN_DIR, dir, { recursive: true });
    const report = await verifyLog(dir);
    expect(report.ok).toBe(true);
    expect(report.logId).toBe('00000000-0000-4000-8000-000000000001');
    expect(report.worldId).toBe('golden-world');
    expect(report.lastSeq).toBe(4);
    expectRecords(await readAll(dir), goldenRecords());
  });
});
