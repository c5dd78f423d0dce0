/**
 * What every wire codec offers the transport: decode a client frame, encode each server message, and the
 * encode-once path for observation deltas (encode a change's ops once per tick as a fragment, then assemble each
 * connection's frame from a small per-connection header, the path definitions that connection lacks, and the
 * shared fragments). The client side (encodeClient, decodeServer) serves the SDK, tests and load generators.
 */
import type { ClientMessage, ServerMessage, WireOp } from './messages.js';
import { PathDictionary, SentPaths, planOpStream, planTableStream, type BinaryFragment, type BinaryTable, type OpStream, type OpVisitor, type PathTable } from './opstream.js';

/** WebSocket subprotocols of wire protocol v1; the client offers one or more, the server picks one. */
export const Subprotocol = {
  JSON: 'worldline.v1.json',
  MSGPACK: 'worldline.v1.msgpack',
  PROTO: 'worldline.v1.proto',
} as const;
export type Subprotocol = (typeof Subprotocol)[keyof typeof Subprotocol];

/** A WebSocket message: text for the json subprotocol, binary for the others. */
export type Frame = string | Uint8Array;

/** The per-connection part of an ObservationDelta. */
export interface DeltaHeader {
  readonly view_seq: number;
  readonly from_seq: number;
  /** Lowercase hex sha256 of the view at view_seq ('' when not sent). */
  readonly context_digest: string;
  readonly global_seq?: number;
  readonly sim_time?: number;
  /** Wall-clock ms of the quantum's commit (whole ms). */
  readonly server_time?: number;
}

/**
 * Throws (a server bug, not a client error) unless the header's numbers are what the wire can carry exactly:
 * integers in [0, 2^53 - 1]. sim_time on the wall-clock timebase must be whole milliseconds.
 */
const seqOk = (n: number | undefined): boolean => n === undefined || (Number.isSafeInteger(n) && n >= 0);

export function assertDeltaHeader(h: DeltaHeader): void {
  const ok = seqOk;
  if (!ok(h.view_seq) || !ok(h.from_seq) || !ok(h.global_seq) || !ok(h.sim_time) || !ok(h.server_time)) {
    throw new RangeError(`ObservationDelta header numbers must be integers in [0, 2^53 - 1]: ${JSON.stringify(h)}`);
  }
}

/** Ops as JSON text: RFC 6902 objects joined by commas, ready to splice into a frame. */
export interface JsonFragment {
  readonly format: 'json';
  readonly text: string;
}

export type EncodedFragment = JsonFragment | BinaryFragment;

/**
 * Takes an ObservationDelta's ops as they are decoded (decodeServer's `visitor`): `delta` with the frame's header,
 * then `op` once per operation in order. For a client that applies ops to its own copy of the view.
 */
export interface DeltaVisitor extends OpVisitor {
  delta(fromSeq: number, viewSeq: number): void;
}

/**
 * Per-connection codec state: which path definitions this connection has been sent (server side) or has received
 * (client side). A new connection, including a resumed one, starts with a new session.
 */
export class WireSession {
  readonly sent = new SentPaths();
  readonly received = new PathDictionary();
}

export interface WireCodec {
  readonly subprotocol: Subprotocol;
  /** True when frames are binary WebSocket messages. */
  readonly binary: boolean;
  /** The world's path table (binary codecs); fragments from one world's table only fit that world's codecs. */
  readonly paths: PathTable | undefined;

  /** Decodes and validates a client frame; throws only WorldlineError (MALFORMED_FRAME, INVALID_INTENT, SCHEMA_VERSION_MISMATCH). */
  decodeClient(data: Frame): ClientMessage;
  /** Encodes a server message. Observation deltas use `session` to send only the path definitions it lacks. */
  encodeServer(msg: ServerMessage, session?: WireSession): Frame;
  /** Encodes a client message (SDK side). */
  encodeClient(msg: ClientMessage): Frame;
  /**
   * Decodes and validates a server frame (SDK side); `session` holds the path definitions received so far. With
   * `visitor`, an observation_delta's ops go to the visitor as they are decoded, and the message returned has none
   * (`ops` is empty). A frame that then fails (a defect later in its ops, a bad header field) throws after the
   * visitor has seen the ops before the defect: whatever it applied them to is no longer in step.
   */
  decodeServer(data: Frame, session?: WireSession, visitor?: DeltaVisitor): ServerMessage;

  /** Encodes ops once per tick, to be shared by every connection of this codec family that receives them. */
  encodeFragment(ops: readonly WireOp[]): EncodedFragment;
  /**
   * Encodes a fragment from JSON text the core already produced (RFC 6902 objects joined by commas). The json codec
   * uses the text as is; binary codecs parse it once.
   */
  encodeFragmentText(text: string): EncodedFragment;
  /**
   * One connection's ObservationDelta frame from its header and shared fragments, in order. With `scratch`, a
   * binary frame is a view into the scratch buffer, valid only until the next assembly into it: for a send that
   * copies the bytes at once. With `count`, only fragments[0 .. count) are used (a reused list longer than this delta).
   */
  assembleDelta(session: WireSession, header: DeltaHeader, fragments: readonly EncodedFragment[], scratch?: FrameScratch, count?: number): Frame;
  /**
   * Binary codecs: the same frame from fragments listed by number, idx[start .. start + count), in a BinaryTable (made
   * over this world's PathTable, `paths`): what assembleDelta does with encoded fragments, read from arrays.
   */
  assembleDeltaTable?(session: WireSession, header: DeltaHeader, fragments: BinaryTable, idx: Int32Array, start: number, count: number, scratch?: FrameScratch): Frame;
}

/**
 * A binary codec's two ways to assemble a delta (from encoded fragments, or from a BinaryTable by number) around its
 * own framing of the header and the planned op stream: `frame` writes the message, `paths` is the world's table.
 */
export function binaryDeltaAssembly(paths: PathTable, frame: (h: DeltaHeader, ops: OpStream, scratch?: FrameScratch) => Uint8Array): Pick<WireCodec, 'assembleDelta' | 'assembleDeltaTable'> {
  return {
    assembleDelta(session, h, fragments, scratch, count = fragments.length) {
      assertDeltaHeader(h);
      return frame(h, planOpStream(fragments as readonly BinaryFragment[], paths, session.sent, count), scratch);
    },
    assembleDeltaTable(session, h, fragments, idx, start, count, scratch) {
      assertDeltaHeader(h);
      return frame(h, planTableStream(fragments, paths, idx, start, count, session.sent), scratch);
    },
  };
}

/** FrameScratch keeps its views for frames up to this length (larger ones are rare: a view each). */
const VIEWS_KEPT = 8 * 1024;

/**
 * A reusable buffer for binary frames sent at once: a thousand sessions' frames per tick then cost no buffer
 * allocations (each would be an off-heap ArrayBuffer, counted as external memory and hastening GC).
 */
export class FrameScratch {
  private buf = new Uint8Array(64 * 1024);
  /**
   * The views handed out, by length: a view of the first n bytes is the same object every time (its bytes are valid
   * only until the next take anyway), so a thousand frames per tick make no view each.
   */
  private views = new Array<Uint8Array | undefined>(VIEWS_KEPT + 1).fill(undefined);

  /** A view of n bytes at the start of the buffer (grown when needed); the previous view is overwritten. */
  take(n: number): Uint8Array {
    if (this.buf.length < n) {
      this.buf = new Uint8Array(Math.max(n, this.buf.length * 2));
      this.views.fill(undefined);
    }
    if (n > VIEWS_KEPT) return this.buf.subarray(0, n);
    return (this.views[n] ??= this.buf.subarray(0, n));
  }
}

/** What FragmentCache needs of the core's DeltaFragment: its JSON text and its cache slots. */
export interface CacheableFragment {
  readonly ops: readonly WireOp[];
  readonly text: string;
  readonly wire: unknown[];
}

/**
 * Encodes each of the core's shared fragments once per codec family: the encoding is kept in the fragment's own
 * slot (0 for JSON text, 1 for the binary op stream both binary codecs share), so it lives exactly as long as the
 * fragment and a resuming client's replayed deltas reuse it too.
 */
export class FragmentCache {
  private readonly slot: number;
  private encoded = 0;

  constructor(private readonly codec: WireCodec) {
    this.slot = codec.binary ? 1 : 0;
  }

  /** The encoded fragment, encoding it on first request. */
  get(f: CacheableFragment): EncodedFragment {
    const w = f.wire;
    let e = w[this.slot] as EncodedFragment | undefined;
    if (e === undefined) {
      // Binary codecs encode the ops objects directly; JSON uses the core's text as it is.
      e = this.slot === 1 ? this.codec.encodeFragment(f.ops) : this.codec.encodeFragmentText(f.text);
      w[this.slot] = e;
      this.encoded++;
    }
    return e;
  }

  /** How many fragments this cache has encoded. */
  get size(): number {
    return this.encoded;
  }
}
