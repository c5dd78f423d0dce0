/**
 * The cancel bench's fake model provider: an OpenAI-compatible chat completions endpoint on 127.0.0.1 answering every
 * request with a long, slow SSE stream (the frames of test/adapters/fake-llm-server.ts, the real format the openai
 * package parses), so only the client's abort ends it, and stamping the moment each stream's connection is closed
 * early. Runs inside an agent worker, or forked as its own process (this file's entry point, driven over IPC by
 * bench/cancel.ts).
 *
 * HTTP/1.1 over node:net rather than node:http: it stands for a provider on another machine, and what (b) times is
 * when the provider learns of the close, not how long Node's HTTP server takes to get there. node:http reports a
 * closed connection as the response's 'close', after tearing the request and response down, from the event loop's
 * closing phase: about 80 µs of this process's CPU per stream, 16 ms for a burst of 200 closes, with every token
 * write of 200 streams in the same process (a third of a core) in between. Here a close is stamped as the socket
 * reads the client's FIN (or its reset), and a token is one write of a pre-encoded chunk.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { framesFor } from '../../test/adapters/fake-llm-server.js';
import { clockOffset, parsePrompt, stamp, type Close, type FromProvider, type ToProvider } from './ipc.js';

/** Tokens per answer: at 10 ms apart, a stream lasts 30 s, far longer than any round. */
const ANSWER_TOKENS = 3000;
/** A request's head and body past this are refused (the bench's requests are a few hundred bytes). */
const MAX_REQUEST_BYTES = 64 * 1024;

/** One SSE frame as an HTTP/1.1 chunk (transfer-encoding: chunked). */
const chunked = (frame: string): Buffer => {
  const body = Buffer.from(frame);
  return Buffer.concat([Buffer.from(`${body.byteLength.toString(16)}\r\n`), body, Buffer.from('\r\n')]);
};

const STREAM_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n';

interface Answer {
  /** Status line, headers, and the first frames. */
  readonly head: Buffer;
  readonly tokens: readonly Buffer[];
  /** The last frames and the terminating chunk. */
  readonly tail: Buffer;
}

function answerFor(tokens: readonly string[]): Answer {
  const f = framesFor('openai', 'bench', tokens, false);
  return {
    head: Buffer.concat([Buffer.from(STREAM_HEAD), ...f.head.map(chunked)]),
    tokens: f.body.map(chunked),
    tail: Buffer.concat([...f.tail.map(chunked), Buffer.from('0\r\n\r\n')]),
  };
}

interface Streaming {
  readonly body: Record<string, unknown>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Serves one connection: reads a request (head, then content-length bytes of JSON body), streams the answer a token
 * every `delayMs`, and reads the next request when it is done (keep-alive). `onAbort(body)` once if the client
 * closes the connection while an answer is streaming.
 */
function serve(socket: net.Socket, answer: Answer, delayMs: number, onAbort: (body: Record<string, unknown>) => void): void {
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  /** The answer being streamed: its request's body and the timer of its next token. */
  let streaming: Streaming | undefined;
  let gone = false;
  const closed = (): void => {
    if (gone) return;
    gone = true;
    const s = streaming;
    streaming = undefined;
    if (s) {
      clearTimeout(s.timer);
      onAbort(s.body);
    }
    socket.destroy();
  };
  const refuse = (status: string): void => {
    gone = true;
    socket.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  };
  const next = (): void => {
    if (streaming || gone) return;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.byteLength > MAX_REQUEST_BYTES) refuse('431 Request Header Fields Too Large');
      return;
    }
    const head = buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
    if (length > MAX_REQUEST_BYTES) return refuse('413 Content Too Large');
    if (buf.byteLength < end + 4 + length) return;
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(buf.subarray(end + 4, end + 4 + length).toString('utf8')) as Record<string, unknown>;
    } catch {
      return refuse('400 Bad Request');
    }
    buf = buf.subarray(end + 4 + length);
    const s: Streaming = { body, timer: undefined };
    streaming = s;
    socket.write(answer.head);
    let i = 0;
    const step = (): void => {
      if (streaming !== s) return;
      if (i < answer.tokens.length) {
        socket.write(answer.tokens[i++]!);
        s.timer = setTimeout(step, delayMs);
        return;
      }
      socket.write(answer.tail);
      streaming = undefined;
      next();
    };
    s.timer = setTimeout(step, delayMs);
  };
  socket.on('data', (d: Buffer) => {
    buf = buf.byteLength ? Buffer.concat([buf, d]) : d;
    next();
  });
  // The client's FIN ('end'), its reset ('error'), or a close for any other reason: whichever comes first.
  socket.on('end', closed);
  socket.on('error', closed);
  socket.on('close', closed);
}

export interface RecordingProvider {
  readonly url: string;
  /** The closes seen for `round`, once `expect` of them are in or after `timeoutMs`. */
  closes(round: number, expect: number, timeoutMs: number): Promise<Close[]>;
  close(): Promise<void>;
}

export async function startRecordingProvider(tokenDelayMs: number): Promise<RecordingProvider> {
  const answer = answerFor(Array.from({ length: ANSWER_TOKENS }, (_, i) => ` w${i}`));
  const byRound = new Map<number, Close[]>();
  let wake: (() => void) | undefined;
  const onAbort = (body: Record<string, unknown>): void => {
    const at = stamp();
    const who = parsePrompt(body);
    if (!who) return;
    let list = byRound.get(who.round);
    if (!list) byRound.set(who.round, (list = []));
    list.push({ agent: who.agent, round: who.round, at });
    wake?.();
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, answer, tokenDelayMs, onAbort);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url,
    async closes(round, expect, timeoutMs) {
      const deadline = stamp() + timeoutMs;
      while ((byRound.get(round)?.length ?? 0) < expect && stamp() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - stamp()));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      const out = byRound.get(round) ?? [];
      byRound.delete(round);
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const send = (m: FromProvider): void => {
    process.send?.(m);
  };
  const delay = Number(process.argv[2] ?? '10');
  // As in the workers: no source-mapped stacks (tsx turns them on), which Node builds for every reset connection.
  process.setSourceMapsEnabled(false);
  const p = await startRecordingProvider(delay);
  process.on('message', (m: ToProvider) => {
    if (m.type === 'exit') {
      void p.close().finally(() => process.exit(0));
      return;
    }
    void p.closes(m.round, m.expect, m.timeoutMs).then((closes) => send({ type: 'closes', round: m.round, closes }));
  });
  // The bench is gone: so are we.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'listening', url: p.url, clockOffsetMs: clockOffset() });
}
