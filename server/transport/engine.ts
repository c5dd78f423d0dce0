/**
 * The engine connection (Unity or any engine-authoritative client). While one is attached it drives the world:
 * its TimeTick frames advance the world tick (the server's own tick timer stops), its CollisionEvents and position
 * reports become Collision and Move effects, and every Move an agent commits is sent to it as a MoveCommand. When it
 * disconnects, every session is told UNITY_CONNECTION_LOST and the world pauses or continues on wall time, as
 * configured; it resumes with the engine's next tick.
 */
import { WorldlineError } from '../errors.js';
import type { Effect, JsonObject, JsonValue } from '../core/index.js';
import type { CollisionEvent, Frame, MoveCommand, PositionReport, TimeTick } from '../protocol/index.js';
import type { WireCodec, WireSession } from '../protocol/index.js';

/** The engine's socket, as the link needs it. */
export interface EngineSocket {
  readonly codec: WireCodec;
  readonly wire: WireSession;
  send(frame: Frame): boolean;
  /** Another engine connection took over the world: tell this one why and close it. */
  replaced(): void;
}

/** What the link needs from the world host. */
export interface EngineHost {
  tick(): Promise<unknown>;
  emit(kind: string, payload: JsonValue): Promise<{ status: 'committed' } | { status: 'rejected'; message: string }>;
  positionOf(entityId: string): { x: number; y: number } | undefined;
  setWallClock(running: boolean): void;
  broadcastError(err: WorldlineError): void;
}

export type EngineDisconnectPolicy = 'pause' | 'wall-time';

export class EngineLink {
  private engine: EngineSocket | undefined;
  private lastFrame = -1;
  /** The engine left and the policy is 'pause': the world takes no tick until an engine attaches again. */
  private pausedForEngine = false;
  ticks = 0;

  constructor(private readonly host: EngineHost, private readonly onDisconnect: EngineDisconnectPolicy) {}

  get attached(): boolean {
    return this.engine !== undefined;
  }

  /** True while the world waits for its engine to come back (it left, and engineDisconnect is 'pause'). */
  get paused(): boolean {
    return this.pausedForEngine;
  }

  /** The error that says so: what intents, emits and joining clients are told while the world is paused. */
  pausedError(): WorldlineError {
    return new WorldlineError('UNITY_CONNECTION_LOST', 'the world is paused: its engine disconnected, and it takes no tick until the engine reconnects; retry then', { policy: 'pause', paused: true });
  }

  /**
   * Makes `s` the world's engine; the wall-clock tick timer stops. One engine at a time, and the newest wins: an
   * engine reconnecting after its network dropped finds its old socket still open here (a half-open TCP connection
   * lives until the idle timeout, a minute by default), and refusing it would stop the game's engine for good. The
   * connection it replaces is told so and closed, without UNITY_CONNECTION_LOST: the world never lost its engine.
   */
  attach(s: EngineSocket): () => void {
    const old = this.engine;
    // frame_number orders one engine connection's ticks: a new connection (a restarted game) counts afresh.
    if (old !== s) this.lastFrame = -1;
    this.engine = s;
    this.pausedForEngine = false;
    this.host.setWallClock(false);
    if (old !== undefined && old !== s) old.replaced();
    return () => this.detach(s);
  }

  private detach(s: EngineSocket): void {
    if (this.engine !== s) return;
    this.engine = undefined;
    if (this.onDisconnect === 'wall-time') {
      this.host.broadcastError(new WorldlineError('UNITY_CONNECTION_LOST', 'the engine disconnected: the world continues on wall time until it reconnects', { policy: 'wall-time' }));
      this.host.setWallClock(true);
    } else {
      this.pausedForEngine = true;
      this.host.broadcastError(this.pausedError());
    }
  }

  /** An engine TimeTick: one world tick (systems, then the quantum of queued intents). */
  async onTimeTick(s: EngineSocket, t: TimeTick): Promise<void> {
    this.require(s);
    if (t.frame_number <= this.lastFrame && t.frame_number !== 0) {
      throw new WorldlineError('INVALID_INTENT', `TimeTick frame_number ${t.frame_number} is not after the previous ${this.lastFrame}; send ticks in order`);
    }
    this.lastFrame = t.frame_number;
    this.ticks++;
    await this.host.tick();
  }

  async onCollision(s: EngineSocket, c: CollisionEvent): Promise<void> {
    this.require(s);
    const r = await this.host.emit('Collision', {
      a: c.entity_a, b: c.entity_b, impact_force: c.impact_force,
      position: { x: c.position.x, y: c.position.y, z: c.position.z }, normal: { x: c.normal.x, y: c.normal.y, z: c.normal.z },
    });
    if (r.status === 'rejected') throw new WorldlineError('INTENT_VALIDATION_FAILED', `CollisionEvent rejected: ${r.message}`);
  }

  /** Engine-reported positions become absolute Move effects (the engine is the authority for physics). */
  async onPositions(s: EngineSocket, p: PositionReport): Promise<void> {
    this.require(s);
    const results = await Promise.all(p.entities.map((e) => this.host.emit('Move', { entity_id: e.entity_id, x: e.position.x, y: e.position.y } as JsonObject)));
    const bad = results.find((r) => r.status === 'rejected');
    if (bad && bad.status === 'rejected') throw new WorldlineError('INTENT_VALIDATION_FAILED', `a position report was rejected: ${bad.message}`);
  }

  /** After each quantum: agents' committed Moves go to the engine as MoveCommands. */
  onEffects(effects: readonly Effect[]): void {
    const e = this.engine;
    if (!e) return;
    for (const fx of effects) {
      if (fx.kind !== 'Move' || fx.agent_id === undefined) continue;
      const payload = (fx.payload ?? {}) as JsonObject;
      const entity = typeof payload['entity_id'] === 'string' ? payload['entity_id'] : fx.agent_id;
      const at = this.host.positionOf(entity);
      if (!at) continue;
      const cmd: MoveCommand = {
        type: 'move_command', entity_id: entity, target_position: { x: at.x, y: at.y, z: 0 },
        speed: typeof payload['speed'] === 'number' ? payload['speed'] : 0,
        use_pathfinding: payload['use_pathfinding'] === true,
        global_seq: fx.global_seq, req_id: fx.req_id ?? '',
      };
      e.send(e.codec.encodeServer(cmd, e.wire));
    }
  }

  private require(s: EngineSocket): void {
    if (this.engine !== s) throw new WorldlineError('FORBIDDEN', 'this connection is not the world\'s engine: say Hello with an engine token first');
  }
}
