/** Test helpers for the SDK and LLM adapters: a WebSocket that tests can tap and kill, and bounded waits. */
import WebSocket from 'ws';
import { expect } from 'vitest';
import type { Agent, WebSocketConstructor, WebSocketLike } from '../../adapters/client/index.js';
import { token, type TestServer } from '../e2e/harness.js';

type Handler = ((ev: never) => void) | null;

/** What a tap decides for an incoming frame: deliver it, drop it, or drop it and kill the socket. */
export type TapDecision = 'deliver' | 'drop' | 'kill';

/** A `ws` socket behind the SDK's WebSocketLike, whose incoming frames a test can inspect, alter or drop. */
export class TapSocket implements WebSocketLike {
  readonly inner: WebSocket;
  onopen: Handler = null;
  onmessage: Handler = null;
  onclose: Handler = null;
  onerror: Handler = null;

  constructor(url: string, protocols: string | string[] | undefined, tap: (ev: { data: unknown }) => TapDecision) {
    this.inner = new WebSocket(url, protocols);
    this.inner.binaryType = 'arraybuffer';
    this.inner.onopen = (e) => (this.onopen as ((e: unknown) => void) | null)?.(e);
    this.inner.onerror = (e) => (this.onerror as ((e: unknown) => void) | null)?.(e);
    this.inner.onclose = (e) => (this.onclose as ((e: unknown) => void) | null)?.({ code: e.code, reason: e.reason });
    this.inner.onmessage = (e) => {
      const ev = { data: e.data };
      const d = tap(ev);
      if (d === 'kill') this.kill();
      if (d !== 'deliver') return;
      (this.onmessage as ((e: unknown) => void) | null)?.(ev);
    };
  }

  get readyState(): number {
    return this.inner.readyState;
  }

  get protocol(): string {
    return this.inner.protocol;
  }

  get binaryType(): string {
    return this.inner.binaryType;
  }

  set binaryType(_v: string) {
    // Always arraybuffer, as the SDK asks.
  }

  send(data: string | Uint8Array): void {
    this.inner.send(data);
  }

  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }

  /** Drops the TCP connection without a close handshake (the client sees 1006). */
  kill(): void {
    this.inner.terminate();
  }
}

/** A WebSocket constructor for connect() whose sockets are recorded in `sockets` and pass frames through `tap`. */
export function tapSockets(tap: (ev: { data: unknown }) => TapDecision = () => 'deliver'): { WebSocket: WebSocketConstructor; sockets: TapSocket[] } {
  const sockets: TapSocket[] = [];
  class Tapped extends TapSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, tap);
      sockets.push(this);
    }
  }
  return { WebSocket: Tapped, sockets };
}

/** Polls `pred` every 5 ms until it holds; throws with `what` after timeoutMs. */
export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Spawns the agent's entity at `at` (accepted, or a duplicate of an earlier spawn after a reconnect). */
export async function spawnAt(agent: Agent, at: { x: number; y: number }): Promise<Agent> {
  const r = await agent.submit({ req_id: `spawn-${agent.agentId}`, kind: 'Spawn', payload: { entity_id: agent.agentId, fields: at } });
  expect(['accepted', 'duplicate']).toContain(r.status);
  return agent;
}

/** Waits until the agent's view_seq is the server's, then checks the views are equal. */
export async function matchesServer(srv: TestServer, agent: Agent): Promise<void> {
  await waitUntil(() => agent.viewSeq === srv.host.runtime.observe(agent.agentId).view_seq, `${agent.agentId} catches up with the server`);
  expect(agent.view).toEqual(srv.host.runtime.observe(agent.agentId).view);
}

/** The sessions the server lists for the default world (admin REST), each with its agent and channel. */
export async function listSessions(srv: TestServer): Promise<Array<{ agent_id: string; channel: number; address: string }>> {
  const res = await fetch(`${srv.httpUrl}/v1/worlds/default/sessions`, { headers: { authorization: `Bearer ${await token(srv, undefined, 'admin')}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { sessions: Array<{ agent_id: string; channel: number; address: string }> }).sessions;
}
