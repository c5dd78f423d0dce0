/**
 * Signed checkpoints: a record of kind 'checkpoint' whose payload carries an Ed25519 signature over
 * (log id, seq, hash) of the record just before it. Anyone holding the public key can then check that the log up to
 * that seq is the one the key holder wrote, even if an attacker recomputed every CRC and chain hash.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { HASH_BYTES, canonicalBytes, writeU64 } from './format.js';

export const CHECKPOINT_KIND = 'checkpoint';
const TAG = Buffer.from('WORLDLINE-CHECKPOINT-V1\n', 'ascii');

/** The exact bytes that are signed. */
export function checkpointMessage(logId: string, seq: number, hash: Buffer): Buffer {
  const id = Buffer.from(logId, 'utf8');
  const buf = Buffer.alloc(TAG.length + id.length + 1 + 8 + HASH_BYTES);
  TAG.copy(buf, 0);
  id.copy(buf, TAG.length);
  writeU64(buf, seq, TAG.length + id.length + 1);
  hash.copy(buf, TAG.length + id.length + 9);
  return buf;
}

/** Short stable id of a public key: first 16 hex digits of SHA-256 over its SPKI DER. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function makeCheckpointPayload(logId: string, seq: number, hash: Buffer, privateKey: KeyObject): Buffer {
  const sig = sign(null, checkpointMessage(logId, seq, hash), privateKey);
  return canonicalBytes({
    key_id: keyId(createPublicKey(privateKey)),
    log_id: logId,
    seq,
    hash: hash.toString('hex'),
    sig: sig.toString('base64'),
  });
}

/**
 * Checks a checkpoint record stored at `recordSeq`, whose predecessor has chain hash `prevHash`.
 * Returns undefined when valid, else the reason.
 */
export function checkCheckpoint(payload: Buffer, recordSeq: number, prevHash: Buffer, logId: string, publicKey: KeyObject): string | undefined {
  let j: { log_id?: unknown; seq?: unknown; hash?: unknown; sig?: unknown };
  try {
    j = JSON.parse(payload.toString('utf8')) as typeof j;
  } catch {
    return 'checkpoint payload is not JSON';
  }
  if (j.log_id !== logId) return `checkpoint names log ${String(j.log_id)}, not ${logId}`;
  if (j.seq !== recordSeq - 1) return `checkpoint signs seq ${String(j.seq)} but follows seq ${recordSeq - 1}`;
  if (typeof j.hash !== 'string' || j.hash !== prevHash.toString('hex')) return 'checkpoint hash differs from the chain hash it signs';
  if (typeof j.sig !== 'string') return 'checkpoint has no signature';
  const ok = verify(null, checkpointMessage(logId, recordSeq - 1, prevHash), publicKey, Buffer.from(j.sig, 'base64'));
  return ok ? undefined : 'signature does not verify with the given public key';
}
