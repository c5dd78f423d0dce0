/**
 * context_digest checks (the set digest of docs/core.md: per-entity SHA-256 of canonical JSON, summed), with
 * WebCrypto (crypto.subtle in browsers and in Node 20) so the SDK core stays free of Node-only APIs.
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

const MOD = 1n << 256n;

/** One entity's member text in the view's set digest: its id as a JSON string, a colon, its canonical record. */
export function memberText(id: string, record: unknown): string {
  return `${JSON.stringify(id)}:${canonicalText(record)}`;
}

/**
 * The context_digest of a view (docs/core.md): the sum modulo 2^256 of SHA-256(memberText) over its entities,
 * each read as a big-endian integer, as 64 lowercase hex digits. Order-independent, so it can be kept up to date
 * entity by entity; ViewDigester does that for a client.
 */
export async function viewDigest(view: { entities: Record<string, unknown> }, digest: DigestFunction | undefined = webCryptoDigest()): Promise<string> {
  const d = new ViewDigester(digest);
  return d.digest(ViewDigester.texts(view.entities));
}

/** Keeps each entity's member hash, so a delta costs one SHA-256 per entity whose canonical record changed. */
export class ViewDigester {
  private readonly members = new Map<string, { text: string; value: bigint }>();
  private readonly digestFn: DigestFunction;

  constructor(digest: DigestFunction | undefined = webCryptoDigest()) {
    if (!digest) throw new WorldlineError('ADAPTER_UNAVAILABLE', 'WebCrypto (crypto.subtle) is not available here: pass a digest function');
    this.digestFn = digest;
  }

  /** Member texts of a view, computed synchronously (so they capture this view_seq's view). */
  static texts(entities: Record<string, unknown>): Array<[string, string]> {
    return Object.keys(entities).map((id) => [id, memberText(id, entities[id])]);
  }

  /** The digest of the view whose member texts are given; entities absent from `texts` are forgotten. */
  async digest(texts: ReadonlyArray<readonly [string, string]>): Promise<string> {
    const seen = new Set<string>();
    await Promise.all(
      texts.map(async ([id, text]) => {
        seen.add(id);
        const known = this.members.get(id);
        if (known && known.text === text) return;
        this.members.set(id, { text, value: BigInt(`0x${await this.digestFn(text)}`) });
      }),
    );
    let sum = 0n;
    for (const [id, m] of this.members) {
      if (!seen.has(id)) this.members.delete(id);
      else sum = (sum + m.value) % MOD;
    }
    return sum.toString(16).padStart(64, '0');
  }
}
