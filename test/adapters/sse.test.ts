/**
 * sse.ts, the event-stream reader the openai adapter reads answers with: the same events whatever pieces the bytes
 * come in (down to one byte, splitting a UTF-8 character or a CRLF), every line ending, comments, multi-line data and
 * named events; and the adapter over a raw stream: tokens up to an in-band error, which ends it with the provider's
 * error type and message, and nothing read after [DONE].
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderStreamError } from '../../adapters/llm/http-errors.js';
import { openAIProvider } from '../../adapters/llm/openai.js';
import { SseDecoder, type SseEvent } from '../../adapters/llm/sse.js';

const encoder = new TextEncoder();

function decodeIn(pieces: readonly Uint8Array[]): SseEvent[] {
  const d = new SseDecoder();
  const out: SseEvent[] = [];
  for (const p of pieces) out.push(...d.push(p));
  out.push(...d.end());
  return out;
}

function splitEvery(bytes: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.subarray(i, i + n));
  return out;
}

describe('SseDecoder', () => {
  const text = [
    ': a comment\n',
    'data: {"a":1}\n\n',
    'event: named\r\ndata: two\r\ndata:  lines\r\n\r\n',
    'data: caf\u00e9 \u2603\r\r',
    'id: 7\nretry: 10\nfield-only\ndata\n\n',
    'event: lonely\n\n',
    'data: unfinished',
  ].join('');
  const expected: SseEvent[] = [
    { event: null, data: '{"a":1}' },
    { event: 'named', data: 'two\n lines' },
    { event: null, data: 'caf\u00e9 \u2603' },
    { event: null, data: '' },
  ];

  it('gives the same events however the bytes are split, and drops an event the stream never finished', () => {
    const bytes = encoder.encode(text);
    expect(decodeIn([bytes])).toEqual(expected);
    for (const n of [1, 2, 3, 5, 7, 64]) expect(decodeIn(splitEvery(bytes, n))).toEqual(expected);
  });
});

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function rawSse(body: string): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

const chunk = (content: string): string => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

describe('openai adapter over a raw event stream', () => {
  it('streams tokens up to an in-band error and ends with ProviderStreamError (the provider\'s type and message); nothing after [DONE] is read', async () => {
    const failing = openAIProvider({ model: 'm', baseURL: await rawSse(`${chunk('a')}${chunk('b')}data: {"error":{"message":"overloaded","type":"server_error"}}\n\n${chunk('c')}`) });
    const got: string[] = [];
    const run = (async () => {
      for await (const t of failing.stream({ messages: [{ role: 'user', content: 'hi' }] })) got.push(t);
    })();
    await expect(run).rejects.toBeInstanceOf(ProviderStreamError);
    await expect(run).rejects.toMatchObject({ type: 'server_error', providerMessage: 'overloaded' });
    expect(got).toEqual(['a', 'b']);

    const done = openAIProvider({ model: 'm', baseURL: await rawSse(`${chunk('x')}data: [DONE]\n\ndata: not json\n\n`) });
    const tokens: string[] = [];
    for await (const t of done.stream({ messages: [{ role: 'user', content: 'hi' }] })) tokens.push(t);
    expect(tokens).toEqual(['x']);
  });
});
