/**
 * REST request bodies: read in chunks, bounded, and settled when the client goes away mid-body (an upload the client
 * abandons must not hold its chunks and its handler forever).
 */
import { describe, expect, it } from 'vitest';
import type { HttpResponse } from 'uWebSockets.js';
import { readJson, trackAbort } from '../../server/transport/rest.js';

function fakeResponse(): { res: HttpResponse; data(chunk: string, last: boolean): void; abort(): void } {
  let onData: ((ab: ArrayBuffer, isLast: boolean) => void) | undefined;
  let onAborted: (() => void) | undefined;
  const res = {
    onData(fn: (ab: ArrayBuffer, isLast: boolean) => void) {
      onData = fn;
      return res;
    },
    onAborted(fn: () => void) {
      onAborted = fn;
      return res;
    },
  };
  return {
    res: res as unknown as HttpResponse,
    data: (chunk, last) => {
      const b = Buffer.from(chunk);
      onData?.(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), last);
    },
    abort: () => onAborted?.(),
  };
}

const settled = (p: Promise<unknown>): Promise<string> =>
  Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise<string>((r) => setTimeout(() => r('pending'), 50))]);

describe('REST body reader', () => {
  it('joins a body that arrives in chunks', async () => {
    const f = fakeResponse();
    const body = readJson(f.res, 1024, trackAbort(f.res));
    f.data('{"a":', false);
    f.data('1}', true);
    await expect(body).resolves.toEqual({ a: 1 });
  });

  it('settles (rejects) when the client aborts in the middle of the body', async () => {
    const f = fakeResponse();
    const state = trackAbort(f.res);
    const body = readJson(f.res, 1024, state);
    f.data('{"a":', false);
    f.abort();
    expect(state.aborted).toBe(true);
    expect(await settled(body)).toBe('rejected');
  });

  it('refuses a body that has not arrived whole by its deadline, however steadily it trickles, and marks the connection to close', async () => {
    const f = fakeResponse();
    const state = trackAbort(f.res);
    const body = readJson(f.res, 1024, state, 120);
    const drip = setInterval(() => f.data(' ', false), 20);
    try {
      await expect(body).rejects.toMatchObject({ codeName: 'OPERATION_TIMEOUT' });
    } finally {
      clearInterval(drip);
    }
    expect(state.closeAfter).toBe(true);
    f.data('{}', true); // what still comes after the refusal is dropped
  });

  it('a body over the size bound that is still coming closes the connection with the answer; one complete at once does not need to', async () => {
    const f = fakeResponse();
    const state = trackAbort(f.res);
    const body = readJson(f.res, 8, state);
    f.data('{"a":"0123456789"', false);
    await expect(body).rejects.toMatchObject({ codeName: 'PAYLOAD_TOO_LARGE', details: { max_bytes: 8 } });
    expect(state.closeAfter).toBe(true);
    const g = fakeResponse();
    const whole = trackAbort(g.res);
    const b2 = readJson(g.res, 8, whole);
    g.data('{"a":"0123456789"}', true);
    await expect(b2).rejects.toMatchObject({ codeName: 'PAYLOAD_TOO_LARGE' });
    expect(whole.closeAfter).toBeUndefined();
  });
});
