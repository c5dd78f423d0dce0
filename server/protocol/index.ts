/**
 * Wire protocol v1: the message model, the three codecs and subprotocol negotiation. The transport creates one
 * set of codecs per world (they share the world's path table) and one WireSession per connection.
 */
import { Subprotocol, type WireCodec } from './codec.js';
import { createJsonCodec } from './json-codec.js';
import { createMsgpackCodec } from './msgpack-codec.js';
import { PathTable } from './opstream.js';
import { createProtoCodec } from './proto-codec.js';

export * from './messages.js';
export { Subprotocol, WireSession, FragmentCache, FrameScratch } from './codec.js';
export type { WireCodec, Frame, DeltaHeader, DeltaVisitor, EncodedFragment, JsonFragment } from './codec.js';
export { PathTable, PathDictionary, SentPaths, OpCode, BinaryTable } from './opstream.js';
export type { BinaryFragment, OpVisitor } from './opstream.js';
export { checkSchemaVersion, isJsonValue, MAX_INCARNATION, MAX_JSON_DEPTH, validateClientMessage } from './validate.js';
export { isCloseFrame, splitChannel, withChannel, MAX_CHANNEL, type ChannelSplit } from './channel.js';
export { createJsonCodec, createMsgpackCodec, createProtoCodec };

/** The subprotocols this server speaks (for the Sec-WebSocket-Protocol handshake and docs). */
export const SUBPROTOCOLS: readonly Subprotocol[] = [Subprotocol.PROTO, Subprotocol.MSGPACK, Subprotocol.JSON];

export type WorldCodecs = Readonly<Record<Subprotocol, WireCodec>>;

/** The three codecs for one world; the binary two share its path table, so a binary fragment serves both. */
export function createWorldCodecs(paths: PathTable = new PathTable()): WorldCodecs {
  return {
    [Subprotocol.JSON]: createJsonCodec(),
    [Subprotocol.MSGPACK]: createMsgpackCodec(paths),
    [Subprotocol.PROTO]: createProtoCodec(paths),
  };
}

/**
 * Picks the subprotocol from a Sec-WebSocket-Protocol header value (comma-separated, in the client's order of
 * preference): the first one the client lists that we speak, or undefined when there is none.
 */
export function negotiateSubprotocol(header: string | readonly string[] | undefined): Subprotocol | undefined {
  if (header === undefined) return undefined;
  const offered = (typeof header === 'string' ? header.split(',') : header).map((s) => s.trim());
  return offered.find((s): s is Subprotocol => (SUBPROTOCOLS as readonly string[]).includes(s));
}
