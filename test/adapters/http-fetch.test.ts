/**
 * http-fetch.ts, the providers' default fetch in Node, against a node:http server on 127.0.0.1: what the provider
 * SDKs read (status, headers, text, json, a body as async-iterable chunks) comes through; an abort before or during
 * the body rejects with the signal's reason and closes the connection, and opens no other; finished requests share
 * a kept-alive connection; compressed bodies are decompressed; bodies it does not handle go to globalThis.fetch.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { closeResponse, createHttpFetch } from '../../adapters/llm/http-fetch.js';

interface Served {
  readonly url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Resolves when the server sees the n-th request's connection close early (by index, from 0). */
  closed: Array<Promise<void>>;
  readonly bodies: string[];
  close(): Promise<void>;
}

const servers: Served[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<Served> {
  const closers: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const i = s.bodies.length;
      s.bodies.push(raw);
      res.on('close', () => {
        if (!res.writableFinished) closers[i]?.();
      });
      handler(req, res, raw);
    });
  });
  server.on('connection', () => s.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const s: Served = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: 0,
    closed: Array.from({ length: 8 }, (_, i) => new Promise<void>((resolve) => (closers[i] = resolve))),
    bodies: [],
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(s);
  return s;
}

/** An endless stream: a chunk every 5 ms until the client goes away. */
function endless(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const t = setInterval(() => res.write('data: x\n\n'), 5);
  res.on('close', () => clearInterval(t));
}

const fetchImpl = createHttpFetch()!;

/** A POST to an endless event stream, its first chunk read: the response, its body's reader, and its controller. */
async function streaming(s: Served): Promise<{ controller: AbortController; r: Response; it: AsyncIterator<Uint8Array> }> {
  const controller = new AbortController();
  const r = await fetchImpl(`${s.url}/`, { method: 'POST', body: '{}', signal: controller.signal });
  const it = (r.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  await it.next();
  return { controller, r, it };
}

describe('http-fetch', () => {
  it('sends method, headers and body; answers with status, headers, text and json', async () => {
    const s = await serve((req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-seen': `${req.method} ${req.url} ${req.headers['x-key']}` });
      res.end(JSON.stringify({ echo: body }));
    });
    const r = await fetchImpl(`${s.url}/v1/thing?q=1`, { method: 'post', headers: { 'x-key': 'k1', 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(r.status).toBe(201);
    expect(r.ok).toBe(true);
    expect(r.url).toBe(`${s.url}/v1/thing?q=1`);
    expect(r.headers.get('x-seen')).toBe('POST /v1/thing?q=1 k1');
    expect(await r.json()).toEqual({ echo: '{"a":1}' });
    expect(r.bodyUsed).toBe(true);
    const e = await fetchImpl(`${s.url}/`, { body: new TextEncoder().encode('bytes'), method: 'PUT' });
    expect(await e.text()).toBe('{"echo":"bytes"}');
  });

  it('streams the body as async-iterable chunks, and an error status keeps its body for text()', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/bad') {
        res.writeHead(429, { 'retry-after-ms': '5', 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const t = setInterval(() => {
        res.write(`data: ${i}\n\n`);
        if (++i === 3) {
          clearInterval(t);
          res.end();
        }
      }, 2);
    });
    const r = await fetchImpl(`${s.url}/sse`);
    let text = '';
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) text += new TextDecoder().decode(chunk);
    expect(text).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n');
    const bad = await fetchImpl(`${s.url}/bad`);
    expect(bad.ok).toBe(false);
    expect(bad.status).toBe(429);
    expect(bad.headers.get('retry-after-ms')).toBe('5');
    expect(await bad.text()).toContain('slow down');
  });

  it('an abort mid-body rejects the reader with the reason, closes the connection, and opens no other', async () => {
    const s = await serve((_req, res) => endless(res));
    const { controller, it } = await streaming(s);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(it.next()).rejects.toBe(reason);
    await s.closed[0];
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Node's fetch (undici) opens a new connection for an aborted request here (nodejs/undici#5845).
    expect(s.connections).toBe(1);
  });

  it('an abort closes the connection at once and wakes a reader waiting for a chunk on the next turn', async () => {
    const s = await serve((_req, res) => endless(res));
    const { controller, it } = await streaming(s);
    const waiting = it.next();
    let settled = false;
    waiting.then(() => (settled = true), () => (settled = true));
    const reason = new Error('stop');
    controller.abort(reason);
    // The socket is closed within abort(); the reader hears of it only after the I/O already pending.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(settled).toBe(false);
    await expect(waiting).rejects.toBe(reason);
    await s.closed[0];
    // A read after the abort rejects at once.
    await expect(it.next()).rejects.toBe(reason);
  });

  it('closeResponse ends the request behind a response as its abort does, without aborting the signal', async () => {
    const s = await serve((_req, res) => endless(res));
    const { controller, r, it } = await streaming(s);
    const waiting = it.next();
    const reason = new Error('moved on');
    expect(closeResponse(r, reason)).toBe(true);
    await expect(waiting).rejects.toBe(reason);
    await s.closed[0];
    // No abort event went through the request's signal; closing twice does nothing more.
    expect(controller.signal.aborted).toBe(false);
    expect(closeResponse(r, new Error('again'))).toBe(true);
    await expect(it.next()).rejects.toBe(reason);
    // A Response this fetch did not make is left to its own signal.
    expect(closeResponse(new Response('x'), reason)).toBe(false);
  });

  it('closing a response read to its end leaves its kept-alive connection to the next request', async () => {
    const s = await serve((_req, res) => res.end('done'));
    const controller = new AbortController();
    const r = await fetchImpl(`${s.url}/a`, { signal: controller.signal });
    expect(await r.text()).toBe('done');
    expect(closeResponse(r, new Error('late'))).toBe(true);
    controller.abort(new Error('late'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await (await fetchImpl(`${s.url}/b`)).text()).toBe('done');
    expect(s.connections).toBe(1);
  });

  it('an abort mid-body formats no stack trace for the response node:http tears down', async () => {
    const s = await serve((_req, res) => endless(res));
    const { controller, it } = await streaming(s);
    // V8 calls Error.prepareStackTrace when an error's .stack is first read: node:http's ConnResetException
    // ('aborted', code ECONNRESET) for a response still open as the socket closes is such an error.
    const formatted: string[] = [];
    const E = Error as { prepareStackTrace?: ((err: Error, frames: unknown[]) => unknown) | undefined };
    const before = E.prepareStackTrace;
    E.prepareStackTrace = (err) => {
      if ((err as { code?: string }).code === 'ECONNRESET') formatted.push(err.message);
      return `${err.name}: ${err.message}`;
    };
    try {
      controller.abort(new Error('stop'));
      await expect(it.next()).rejects.toThrow('stop');
      await s.closed[0];
      await new Promise((resolve) => setTimeout(resolve, 30));
    } finally {
      E.prepareStackTrace = before;
    }
    expect(formatted).toEqual([]);
  });

  it('an abort before the answer rejects the fetch with the reason; an aborted signal never sends', async () => {
    const s = await serve((_req, res) => setTimeout(() => endless(res), 200));
    const controller = new AbortController();
    const p = fetchImpl(`${s.url}/`, { method: 'POST', body: '{}', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('early')), 20);
    await expect(p).rejects.toThrow('early');
    await s.closed[0];
    const before = s.bodies.length;
    await expect(fetchImpl(`${s.url}/`, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    expect(s.bodies.length).toBe(before);
  });

  it('return() on the body closes the connection; read bodies leave it open for the next request', async () => {
    const s = await serve((req, res) => (req.url === '/endless' ? endless(res) : res.end('done')));
    expect(await (await fetchImpl(`${s.url}/a`)).text()).toBe('done');
    expect(await (await fetchImpl(`${s.url}/b`)).text()).toBe('done');
    expect(s.connections).toBe(1);
    const r = await fetchImpl(`${s.url}/endless`);
    for await (const _chunk of r.body as unknown as AsyncIterable<Uint8Array>) break;
    await s.closed[2];
  });

  it('a connection that drops mid-body fails the reader with TypeError terminated; a refused one fails the fetch', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const r = await fetchImpl(`${s.url}/`);
    const it = (r.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    await it.next();
    await expect(it.next()).rejects.toMatchObject({ name: 'TypeError', message: 'terminated' });
    const port = new URL(s.url).port;
    await s.close();
    servers.length = 0;
    await expect(fetchImpl(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  });

  it('decompresses gzip, and hands bodies it does not handle (FormData) to globalThis.fetch', async () => {
    const s = await serve((req, res, body) => {
      if (req.url === '/gz') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify({ zipped: true })));
        return;
      }
      res.end(`${req.headers['content-type']?.split(';')[0]} ${body.includes('name="f"') ? 'with f' : 'without f'}`);
    });
    expect(await (await fetchImpl(`${s.url}/gz`)).json()).toEqual({ zipped: true });
    const form = new FormData();
    form.set('f', 'v');
    expect(await (await fetchImpl(`${s.url}/form`, { method: 'POST', body: form })).text()).toBe('multipart/form-data with f');
  });
});
