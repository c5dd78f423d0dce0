/**
 * A server-sent events reader (the WHATWG event-stream format: `field: value` lines, an event per blank line) fed
 * bytes as they arrive and giving back, synchronously, the events they complete. The openai adapter reads a model's
 * answer with it instead of through the package's Stream (three nested async generators and several copies of every
 * chunk per event): at a token every 10 ms on a hundred streams an agent process spent its time there.
 */

/** One event: its `event:` name (null when unnamed) and its `data:` lines joined by newlines. */
export interface SseEvent {
  readonly event: string | null;
  readonly data: string;
}

export class SseDecoder {
  private readonly text = new TextDecoder();
  private buffer = '';
  private event: string | null = null;
  private data: string[] = [];
  /** The last line ended in \r: a \n starting the next chunk belongs to it. */
  private afterCr = false;

  /** The events `bytes` completes, in order. */
  push(bytes: Uint8Array): SseEvent[] {
    return this.lines(this.text.decode(bytes, { stream: true }), false);
  }

  /** The events the end of the stream completes (a last event without its blank line is dropped, as EventSource does). */
  end(): SseEvent[] {
    return this.lines(this.text.decode(), true);
  }

  private lines(chunk: string, last: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    let s = this.buffer + chunk;
    let from = 0;
    if (this.afterCr && s.charCodeAt(0) === 10) from = 1;
    this.afterCr = false;
    for (;;) {
      let end = -1;
      for (let i = from; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      this.line(s.slice(from, end), out);
      if (s.charCodeAt(end) === 13) {
        if (end + 1 < s.length) from = s.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
        else {
          from = end + 1;
          this.afterCr = true;
        }
      } else from = end + 1;
    }
    s = s.slice(from);
    if (last && s !== '') {
      this.line(s, out);
      s = '';
    }
    this.buffer = s;
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length) out.push({ event: this.event, data: this.data.join('\n') });
      this.event = null;
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
  }
}

/** A fetch Response body as async-iterable chunks: itself when it is one (Node's ReadableStream, http-fetch's body), else read through a reader. */
export function chunksOf(body: unknown): AsyncIterable<Uint8Array> {
  if (body && typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') return body as AsyncIterable<Uint8Array>;
  return {
    async *[Symbol.asyncIterator]() {
      const reader = (body as ReadableStream<Uint8Array>).getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          yield r.value;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    },
  };
}
