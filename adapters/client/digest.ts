/**
 * context_digest checks: sha256 (lowercase hex) of the RFC 8785 canonical JSON of a view, computed with WebCrypto
 * (crypto.subtle in browsers and in Node 20) so the SDK core stays free of Node-only APIs.
 */
import canonicalize from 'canonicalize';
import { WorldlineError } from '../../server/errors.js';

/** Hashes canonical JSON text to lowercase hex sha256. */
export type DigestFunction = (canonicalText: string) => Promise<string>;

interface SubtleLike {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(buf: ArrayBuffer): string {
  const b = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!]!;
  return s;
}

/** sha256 through globalThis.crypto.subtle, or undefined where WebCrypto is missing (insecure browser contexts). */
export function webCryptoDigest(): DigestFunction | undefined {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleLike } }).crypto?.subtle;
  if (!subtle) return undefined;
  return async (text) => toHex(await subtle.digest('SHA-256', encoder.encode(text)));
}

/** RFC 8785 canonical JSON of a view (the text the server hashes). */
export function canonicalText(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new WorldlineError('WORLD_STATE_CORRUPTED', 'the view cannot be canonicalised (it holds a value JSON cannot carry)');
  return s;
}

/** The context_digest of a view: sha256 hex of its canonical JSON. */
export async function viewDigest(view: unknown, digest: DigestFunction | undefined = webCryptoDigest()): Promise<string> {
  if (!digest) throw new WorldlineError('ADAPTER_UNAVAILABLE', 'WebCrypto (crypto.subtle) is not available here: pass a digest function');
  return digest(canonicalText(view));
}
