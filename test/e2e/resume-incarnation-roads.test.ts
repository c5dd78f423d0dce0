/**
 * The other roads a client resumes by (797b6e5 covered a plain JSON socket): REST's long poll, whose `after=V` is a
 * view_seq as much as Hello.resume.view_seq is, names the incarnation and answers another one with a snapshot; the
 * engine's Welcome names it as every Welcome does (docs/protocol.md); a bad Hello.resume.incarnation is refused as a
 * MALFORMED_FRAME naming the field, on every codec.
 */
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, call as restCall, is, sharedTestServer, token, type Reply } from './harness.js';

describe('every road names the world incarnation', () => {
  const server = sharedTestServer({ maxWorlds: 3 });

  const call = (method: string, p: string, tok: string, body?: unknown): Promise<Reply> => restCall(server(), method, p, tok, body);

  /** Spawns `al` in world `w` over REST, moves it `moves` times, and returns the view_seq and incarnation observed. */
  async function play(tok: string, moves: number): Promise<{ viewSeq: number; incarnation: unknown }> {
    expect((await call('POST', '/v1/worlds/w/intents', tok, { intent: { req_id: `s-${Date.now()}`, kind: 'Spawn', payload: { entity_id: 'al', fields: { x: 100, y: 100 } }, context_seq: 0 } })).json['status']).toBe('committed');
    for (let i = 0; i < moves; i++) {
      expect((await call('POST', '/v1/worlds/w/intents', tok, { intent: { req_id: `m${i}-${Date.now()}`, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 } })).json['status']).toBe('committed');
    }
    const seen = await call('GET', '/v1/worlds/w/agents/al/observe', tok);
    expect(seen.json['kind']).toBe('snapshot');
    return { viewSeq: seen.json['view_seq'] as number, incarnation: seen.json['incarnation'] };
  }

  it("REST observe names the incarnation; after=V of another incarnation gets the new world's view, not its deltas", async () => {
    await server().createWorld({ id: 'w', world: 'default' });
    const tok = await token(server(), 'al', 'agent', { world: 'w' });
    const first = await play(tok, 3);
    expect(first.incarnation).toMatch(/^[0-9a-f-]{36}$/);
    const same = await call('GET', `/v1/worlds/w/agents/al/observe?after=${first.viewSeq - 2}&incarnation=${first.incarnation as string}&timeout_ms=0`, tok);
    expect(same.json).toMatchObject({ kind: 'deltas', incarnation: first.incarnation });
    expect((same.json['deltas'] as unknown[]).length).toBe(2);

    await server().deleteWorld('w', { purge: true });
    await server().createWorld({ id: 'w', world: 'default' });
    const second = await play(tok, 4);
    expect(second.incarnation).not.toBe(first.incarnation);

    // The old world's view_seq, behind the new world's: its deltas from there would be applied to the old view.
    const stale = await call('GET', `/v1/worlds/w/agents/al/observe?after=${first.viewSeq}&incarnation=${first.incarnation as string}&timeout_ms=0`, tok);
    expect(stale.json).toMatchObject({ kind: 'snapshot', view_seq: second.viewSeq, incarnation: second.incarnation });
    // Naming none, or the current one: deltas, as before.
    expect((await call('GET', `/v1/worlds/w/agents/al/observe?after=${first.viewSeq}&timeout_ms=0`, tok)).json['kind']).toBe('deltas');
    expect((await call('GET', `/v1/worlds/w/agents/al/observe?after=${first.viewSeq}&incarnation=${second.incarnation as string}&timeout_ms=0`, tok)).json['kind']).toBe('deltas');

    const long = await call('GET', `/v1/worlds/w/agents/al/observe?after=0&incarnation=${'x'.repeat(129)}`, tok);
    expect(long.status).toBe(400);
    expect(long.json['error']).toMatchObject({ name: 'CONFIG_INVALID', details: { field: 'incarnation' } });
    await server().deleteWorld('w', { purge: true });
  }, 30_000);

  it("the engine's Welcome names the incarnation, the same as an agent's", async () => {
    const agent = await TestClient.connect(server().wsUrl, Subprotocol.PROTO, await token(server(), 'ag'));
    agent.hello('ag');
    const aw = await agent.waitFor(is('welcome'));
    agent.close();
    const engine = await TestClient.connect(server().wsUrl, Subprotocol.PROTO, await token(server(), undefined, 'engine'));
    engine.hello('', { role: 'engine' });
    const ew = await engine.waitFor(is('welcome'));
    engine.close();
    expect(aw.incarnation).toMatch(/^[0-9a-f-]{36}$/);
    expect(ew.incarnation).toBe(aw.incarnation);
  });

  for (const sp of [Subprotocol.JSON, Subprotocol.MSGPACK, Subprotocol.PROTO]) {
    it(`a non-string or over-long resume.incarnation is a MALFORMED_FRAME naming it (${sp})`, async () => {
      const refusal = async (send: (c: TestClient) => void) => {
        const c = await TestClient.connect(server().wsUrl, sp, await token(server(), 'p1'));
        send(c);
        const e = await c.waitFor(is('error'));
        c.close();
        return e;
      };
      const long = await refusal((c) => c.hello('p1', { resume: { view_seq: 0, incarnation: 'x'.repeat(129) } }));
      expect(long).toMatchObject({ name: 'MALFORMED_FRAME', details: { field: 'resume.incarnation' } });
      expect(long.message).toMatch(/at most 128/);
      if (sp === Subprotocol.PROTO) return; // the proto schema types it a string
      const raw = { type: 'hello', token: '', agent_id: 'p1', client_version: 'e2e/1', schema_version: '1.0.0', resume: { view_seq: 0, incarnation: 7 } };
      const typed = await refusal((c) => c.sendRaw(sp === Subprotocol.JSON ? JSON.stringify(raw) : pack(raw)));
      expect(typed).toMatchObject({ name: 'MALFORMED_FRAME', message: 'resume.incarnation must be a string.', details: { field: 'resume.incarnation' } });
    });
  }
});
