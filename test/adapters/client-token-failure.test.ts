/**
 * Where a socket cannot report a refused upgrade (a browser's: only a close with 1006), the SDK asks the server why
 * (GET /v1/worlds/{id}) with the agent's token; when the caller's token function is what fails there, the agent says
 * so when it gives up, rather than blaming the server or its corsOrigins.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../adapters/client/index.js';
import { FakeSocket } from './fake-socket.js';

/** A browser-like socket (no refusal events) whose connection never opens: closed with 1006 on the next macrotask. */
class NeverOpens extends FakeSocket {
  constructor(url: string) {
    super(url);
    setTimeout(() => this.drop(1006, ''), 0);
  }
}

describe('client SDK: a token function that fails while the agent asks why a socket never opened', () => {
  it('leaves with the token function failure in its error', async () => {
    const err = await connect('ws://127.0.0.1:9/v1/worlds/default/ws', {
      token: () => {
        throw new Error('the vault is sealed');
      },
      agentId: 'a1',
      WebSocket: NeverOpens,
      reconnect: { maxAttempts: 0 },
    }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/the token function failed: the vault is sealed/);
    expect(err?.message).not.toMatch(/corsOrigins/);
  });
});
