/**
 * A Welcome names the world's incarnation (its log's id) and a resuming client sends it back. A world deleted with
 * purge and created again under its id numbers its views afresh: a client resuming from the old world's view_seq
 * would be sent the new world's deltas from there, which do not apply to its view. With the incarnation it gets a
 * snapshot instead. Resume within one incarnation, and a resume that names none (older clients), are as before.
 */
import { describe, expect, it } from 'vitest';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, is, joinAndSpawn, sharedTestServer, token } from './harness.js';

type Welcome = Extract<ServerMessage, { type: 'welcome' }>;

describe('resume names the world incarnation', () => {
  const server = sharedTestServer({ maxWorlds: 3 });

  /** Joins agent `al` of world `w`, moves it `moves` times and returns its Welcome and last view_seq. */
  async function play(moves: number): Promise<{ welcome: Welcome; viewSeq: number }> {
    const { c } = await joinAndSpawn(server(), 'w', 'default', 'al', { x: 100, y: 100 });
    const welcome = c.received.find((m): m is Welcome => m.type === 'welcome')!;
    for (let i = 0; i < moves; i++) {
      c.send({ type: 'submit_intent', intent: { req_id: `m${i}-${Date.now()}`, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0, priority: 0 } });
    }
    let viewSeq = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      const last = c.received.filter((m) => m.type === 'observation_delta').at(-1) as { view_seq: number } | undefined;
      viewSeq = last?.view_seq ?? 0;
      if (viewSeq >= moves + 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    c.close();
    return { welcome, viewSeq };
  }

  async function resume(viewSeq: number, incarnation: string | undefined): Promise<Welcome> {
    const c = await TestClient.connect(server().worlds.find((x) => x.id === 'w')!.wsUrl, Subprotocol.JSON, await token(server(), 'al', 'agent', { world: 'w' }));
    c.hello('al', { resume: { view_seq: viewSeq, ...(incarnation !== undefined ? { incarnation } : {}) } });
    const w = await c.waitFor(is('welcome'));
    c.close();
    return w as Welcome;
  }

  it('a resume into the same incarnation gets deltas; into a purged and re-created world a snapshot; naming none, as before', async () => {
    await server().createWorld({ id: 'w', world: 'default' });
    const first = await play(3);
    expect(first.welcome.incarnation).toMatch(/^[0-9a-f-]{36}$/);
    // Same incarnation: deltas from the view_seq (no snapshot in the Welcome).
    expect((await resume(first.viewSeq, first.welcome.incarnation)).snapshot).toBeUndefined();

    await server().deleteWorld('w', { purge: true });
    await server().createWorld({ id: 'w', world: 'default' });
    const second = await play(3);
    expect(second.welcome.incarnation).not.toBe(first.welcome.incarnation);

    // A client of the old world at the view_seq the new one has reached: without the incarnation it would be taken at
    // its word (nothing to send, its old view kept); naming the old incarnation, it gets the new world's view.
    const stale = await resume(second.viewSeq, first.welcome.incarnation);
    expect(stale.snapshot).toBeDefined();
    expect(stale.incarnation).toBe(second.welcome.incarnation);
    expect((stale.snapshot!.view as { entities: Record<string, unknown> }).entities).toHaveProperty('al');
    // The new incarnation resumes with deltas; a client naming none is taken at its word, as before.
    expect((await resume(second.viewSeq, second.welcome.incarnation)).snapshot).toBeUndefined();
    expect((await resume(second.viewSeq, undefined)).snapshot).toBeUndefined();
  }, 30_000);
});
