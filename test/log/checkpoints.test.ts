/**
 * Signed checkpoints: an Ed25519 signature over (log id, seq, chain hash) every N records or T ms. CRCs and the
 * hash chain can be recomputed by anyone who rewrites the files; only the signature cannot.
 */
import fs from 'node:fs';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_KIND, openLog, verifyLog, type EventLog } from '../../server/log/index.js';
import {
  copyLogDir, readAll, recordFor, rejectsWith, rewriteChain, testLogOptions, useTempDirs,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-checkpoints-');
const keys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');

/** 60 user records with a checkpoint every 10: checkpoints land at seqs 11, 22, ..., 66. */
const USER_RECORDS = 60;
const CHECKPOINT_SEQS = [11, 22, 33, 44, 55, 66];

async function appendUserRecords(log: EventLog, count: number): Promise<void> {
  const pending: Array<Promise<unknown>> = [];
  for (let i = 1; i <= count; i++) {
    const r = recordFor(i);
    pending.push(log.append(r.kind, r.payload));
  }
  await Promise.all(pending);
  await log.flush();
}

let base: string;

beforeAll(async () => {
  base = tempDir();
  const log = await openLog(base, testLogOptions({ checkpoint: { privateKey: keys.privateKey, everyRecords: 10 } }));
  await appendUserRecords(log, USER_RECORDS);
  await log.close();
});

function checkpointSeqs(all: ReadonlyArray<{ seq: number; kind: string }>): number[] {
  return all.filter((r) => r.kind === CHECKPOINT_KIND).map((r) => r.seq);
}

describe('signed checkpoints', () => {
  it('are written every N records and verify with the public key', async () => {
    const all = await readAll(base);
    expect(checkpointSeqs(all)).toEqual(CHECKPOINT_SEQS);
    expect(all.filter((r) => r.kind !== CHECKPOINT_KIND).length).toBe(USER_RECORDS);
    const report = await verifyLog(base, { publicKey: keys.publicKey });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toEqual({ count: CHECKPOINT_SEQS.length, verified: CHECKPOINT_SEQS.length, signedThrough: 65 });
    // PEM works as well as a KeyObject.
    const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await verifyLog(base, { publicKey: pem })).ok).toBe(true);
  });

  it('fail to verify with a different public key', async () => {
    const report = await verifyLog(base, { publicKey: otherKeys.publicKey });
    expect(report.ok).toBe(false);
    expect(report.problem?.code).toBe('CHECKPOINT_SIGNATURE_INVALID');
    expect(report.problem?.seq).toBe(CHECKPOINT_SEQS[0]);
    // Without a key the chain itself is intact.
    expect((await verifyLog(base)).ok).toBe(true);
  });

  it('a forged signature in a rewritten chain is caught by the key, and only by the key', async () => {
    const dir = copyLogDir(base, tempDir);
    const forged = CHECKPOINT_SEQS[2]!;
    rewriteChain(dir, (seq, kind, payload) => {
      if (seq !== forged) return undefined;
      expect(kind).toBe(CHECKPOINT_KIND);
      const j = JSON.parse(payload.toString('utf8')) as { sig: string };
      const sig = Buffer.from(j.sig, 'base64');
      sig[7]! ^= 0x01;
      const out = Buffer.from(payload.toString('utf8').replace(j.sig, sig.toString('base64')), 'utf8');
      expect(out.length).toBe(payload.length);
      expect(out.equals(payload)).toBe(false);
      return out;
    });
    // CRCs, chain hashes and segment links were all recomputed: without the key the log looks fine and opens.
    expect((await verifyLog(dir)).ok).toBe(true);
    const log = await openLog(dir, testLogOptions());
    await log.close();
    const report = await verifyLog(dir, { publicKey: keys.publicKey });
    expect(report.ok).toBe(false);
    expect(report.problem?.code).toBe('CHECKPOINT_SIGNATURE_INVALID');
    expect(report.problem?.seq).toBe(forged);
    expect(report.checkpoints?.verified).toBe(2);
  });

  it('a record rewritten before a checkpoint is caught even when the checkpoint\'s hash field is rewritten to match', async () => {
    const dir = copyLogDir(base, tempDir);
    rewriteChain(dir, (seq, _kind, payload, prevHash) => {
      if (seq === 15) return Buffer.concat([Buffer.from('#99:'), payload.subarray(4)]);
      if (seq === 22) {
        const j = JSON.parse(payload.toString('utf8')) as { hash: string };
        return Buffer.from(payload.toString('utf8').replace(j.hash, prevHash.toString('hex')), 'utf8');
      }
      return undefined;
    });
    expect((await verifyLog(dir)).ok).toBe(true);
    const all = await readAll(dir);
    expect(all[14]!.payload.toString('latin1').startsWith('#99:')).toBe(true);
    const report = await verifyLog(dir, { publicKey: keys.publicKey });
    expect(report.ok).toBe(false);
    expect(report.problem?.code).toBe('CHECKPOINT_SIGNATURE_INVALID');
    expect(report.problem?.seq).toBe(22);
  });

  it('rewriteChain with no edits reproduces the files byte for byte (the forging helper follows the format)', async () => {
    const dir = copyLogDir(base, tempDir);
    const before = fs.readdirSync(`${dir}/segments`).map((n) => fs.readFileSync(`${dir}/segments/${n}`));
    rewriteChain(dir, () => undefined);
    const after = fs.readdirSync(`${dir}/segments`).map((n) => fs.readFileSync(`${dir}/segments/${n}`));
    expect(after.length).toBe(before.length);
    after.forEach((b, i) => expect(b.equals(before[i]!)).toBe(true));
  });

  it('are also written on a timer (everyMs) when records arrive', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ checkpoint: { privateKey: keys.privateKey, everyMs: 20 } }));
    const seen = (): number => [...log.records()].filter((r) => r.kind === CHECKPOINT_KIND).length;
    await appendUserRecords(log, 5);
    // Bounded wait for the timer (not a timing assertion: it only has to happen at some point).
    for (let i = 0; i < 500 && seen() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen()).toBeGreaterThanOrEqual(1);
    await appendUserRecords(log, 3);
    for (let i = 0; i < 500 && seen() < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen()).toBeGreaterThanOrEqual(2);
    await log.close();
    const report = await verifyLog(dir, { publicKey: keys.publicKey });
    expect(report.ok).toBe(true);
    expect(report.checkpoints?.verified).toBeGreaterThanOrEqual(2);
  });

  it('a log without checkpoints does not verify against a key (nothing is vouched for)', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendUserRecords(log, 5);
    await log.close();
    const report = await verifyLog(dir, { publicKey: keys.publicKey });
    expect(report.ok).toBe(false);
    expect(report.problem?.code).toBe('CHECKPOINT_SIGNATURE_INVALID');
  });

  it('a non-Ed25519 checkpoint key is CONFIG_INVALID and creates no log', async () => {
    const x: KeyObject = generateKeyPairSync('x25519').privateKey;
    const bad = tempDir();
    await rejectsWith(openLog(bad, testLogOptions({ checkpoint: { privateKey: x, everyRecords: 5 } })), 'CONFIG_INVALID');
    // A rejected configuration must not half-apply: no segment is left behind for the next open to find.
    expect(fs.readdirSync(`${bad}/segments`)).toEqual([]);
  });

  it('an unreadable PEM checkpoint key is CONFIG_INVALID, not a raw crypto error', async () => {
    await rejectsWith(openLog(tempDir(), testLogOptions({ checkpoint: { privateKey: 'not a PEM key', everyRecords: 5 } })), 'CONFIG_INVALID');
  });

  it('an Ed25519 PUBLIC key as the checkpoint key is CONFIG_INVALID at open', async () => {
    await rejectsWith(openLog(tempDir(), testLogOptions({ checkpoint: { privateKey: keys.publicKey, everyRecords: 1 } })), 'CONFIG_INVALID');
  });

  it('a PEM private key works like a KeyObject', async () => {
    const dir = tempDir();
    const pem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const log = await openLog(dir, testLogOptions({ checkpoint: { privateKey: pem, everyRecords: 5 } }));
    await appendUserRecords(log, 12);
    await log.close();
    const report = await verifyLog(dir, { publicKey: keys.publicKey });
    expect(report.ok).toBe(true);
    expect(report.checkpoints?.count).toBe(2);
  });
});
