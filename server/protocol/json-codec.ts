/**
 * worldline.v1.json: text frames, each one JSON object {"type": ..., fields...} in the shape of messages.ts,
 * with observation ops as RFC 6902 objects. Deltas are assembled by splicing shared fragment text.
 */
import { utf8 } from './bytes.js';
import { Subprotocol, assertDeltaHeader, type DeltaHeader, type DeltaVisitor, type EncodedFragment, type Frame, type FrameScratch, type JsonFragment, type WireCodec, type WireSession } from './codec.js';
import type { ClientMessage, ServerMessage, WireOp } from './messages.js';
import { asFrameError, validateClientMessage, validateServerMessage } from './validate.js';
import { OpCode } from './opstream.js';

function parse(data: Frame): unknown {
  try {
    return JSON.parse(typeof data === 'string' ? data : utf8.decode(data));
  } catch (err) {
    throw asFrameError(err, 'The frame is not valid JSON');
  }
}

function assertJsonFragment(f: EncodedFragment): JsonFragment {
  if (f.format !== 'json') throw new Error('a binary fragment was given to the json codec');
  return f;
}

function jsonFragment(ops: readonly WireOp[]): JsonFragment {
  let text = '';
  for (let i = 0; i < ops.length; i++) text += (i > 0 ? ',' : '') + JSON.stringify(ops[i]);
  return { format: 'json', text };
}

function header(h: DeltaHeader): string {
  return `{"type":"observation_delta","view_seq":${h.view_seq},"from_seq":${h.from_seq},"context_digest":"${h.context_digest}","ops":[`;
}

function trailer(h: DeltaHeader): string {
  return `],"global_seq":${h.global_seq ?? 0},"sim_time":${h.sim_time ?? 0},"server_time":${h.server_time ?? 0}}`;
}

function assemble(h: DeltaHeader, fragments: readonly EncodedFragment[], count = fragments.length): string {
  assertDeltaHeader(h);
  if (!/^[0-9a-f]*$/.test(h.context_digest)) throw new Error('context_digest must be lowercase hex');
  let s = header(h);
  let first = true;
  for (let i = 0; i < count; i++) {
    const j = assertJsonFragment(fragments[i] as EncodedFragment);
    if (j.text === '') continue;
    s += first ? j.text : ',' + j.text;
    first = false;
  }
  return s + trailer(h);
}

export function createJsonCodec(): WireCodec {
  return {
    subprotocol: Subprotocol.JSON,
    binary: false,
    paths: undefined,
    decodeClient(data: Frame): ClientMessage {
      return validateClientMessage(parse(data));
    },
    encodeServer(msg: ServerMessage): Frame {
      if (msg.type === 'observation_delta') return assemble(msg, [jsonFragment(msg.ops)]);
      return JSON.stringify(msg);
    },
    encodeClient(msg: ClientMessage): Frame {
      return JSON.stringify(msg);
    },
    decodeServer(data: Frame, _session?: WireSession, visitor?: DeltaVisitor): ServerMessage {
      const msg = validateServerMessage(parse(data));
      if (visitor === undefined || msg.type !== 'observation_delta') return msg;
      // No path ids in JSON: each op goes to the visitor with id -1.
      visitor.delta(msg.from_seq, msg.view_seq);
      for (const o of msg.ops) {
        if ('from' in o) visitor.op(OpCode[o.op], -1, o.path, undefined, o.from);
        else visitor.op(OpCode[o.op], -1, o.path, 'value' in o ? o.value : undefined, undefined);
      }
      return { ...msg, ops: [] };
    },
    encodeFragment: jsonFragment,
    encodeFragmentText(text: string): EncodedFragment {
      return { format: 'json', text };
    },
    assembleDelta(_session: WireSession, h: DeltaHeader, fragments: readonly EncodedFragment[], _scratch?: FrameScratch, count?: number): Frame {
      return assemble(h, fragments, count);
    },
  };
}
