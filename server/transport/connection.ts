/**
 * What the sessions of one WebSocket share: its own session's and its channels' (docs/protocol.md "Channels"). A
 * channel is a session of its own (own Hello, own rate limit), but the socket is one client: opening a channel must
 * not hand that client a fresh allowance.
 */
import type { GenerationToken } from '../core/index.js';
import { TokenBucket } from './rate-limit.js';

/** The configuration's default maxChannelsPerSocket, for a connection made without it (tests). */
const DEFAULT_MAX_CHANNELS = 1024;

export class Connection {
  /**
   * The connection's frame budget, which every frame of every session on it draws on besides its session's own
   * bucket: messagesPerSecond (bursts of twice that) for each session on it that has joined, and one share while none
   * has. Hellos on new channels, frames on channels not open and frames of sessions that never join all come out of
   * the shares of the sessions that joined, so neither opening channels nor closing and reopening one refills it.
   */
  private readonly budget: TokenBucket;
  /**
   * The Hellos of sessions not yet joined, which the shares above cannot pay for: an agent process (a Link) opens or
   * reopens all its channels at once, before any has joined. A burst of one Hello per channel the socket may carry
   * (and its own), refilled at messagesPerSecond: reconnecting a full Link is one burst, while churning channels to
   * retry Hellos is held to the rate (and each refused Hello is a strike against the address besides).
   */
  private readonly hellos: TokenBucket;
  private joined = 0;
  /**
   * A session on a channel of this socket has been welcomed: the socket's own session may then stay without a Hello
   * (a client that multiplexes need not join on channel 0). Refused channel Hellos do not count.
   */
  carriesChannels = false;
  /**
   * The generations the sessions of this socket opened that may still be open (MAX_OPEN_GENERATIONS bounds them per
   * connection, not per session), each with how to forget it in its session's own list.
   */
  readonly generations = new Map<GenerationToken, () => void>();

  constructor(private readonly messagesPerSecond: number, now: number, maxChannels = DEFAULT_MAX_CHANNELS) {
    this.budget = new TokenBucket(messagesPerSecond, 2 * messagesPerSecond, now);
    this.hellos = new TokenBucket(messagesPerSecond, Math.max(2 * messagesPerSecond, maxChannels + 1), now);
  }

  /** Takes one frame from the connection's budget (`hello`: a not yet joined session's Hello); false when it is spent. */
  take(now: number, hello = false): boolean {
    return hello ? this.hellos.take(now) : this.budget.take(now);
  }

  /** Milliseconds until the budget has a frame again. */
  retryAfterMs(): number {
    return this.budget.retryAfterMs();
  }

  /** A session on this connection joined (its Hello succeeded): one more share. */
  sessionJoined(now: number, onChannel: boolean): void {
    if (onChannel) this.carriesChannels = true;
    this.joined++;
    this.resize(now);
  }

  /** A session that had joined ended: its share goes with it. */
  sessionLeft(now: number): void {
    this.joined = Math.max(0, this.joined - 1);
    this.resize(now);
  }

  private resize(now: number): void {
    const rate = this.messagesPerSecond * Math.max(1, this.joined);
    this.budget.resize(rate, 2 * rate, now);
  }
}
