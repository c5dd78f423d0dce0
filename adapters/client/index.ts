/**
 * Worldline client SDK: connect an agent to a world, keep its view, submit intents, and act with generations that
 * the server cancels when the world moves on. Web-standard APIs (WebSocket, WebCrypto, AbortController), so it runs
 * in Node (pass the `ws` WebSocket) and in browsers; in Node it hashes with node:crypto, looked up at run time.
 */
export { Agent, connect, newReqId } from './agent.js';
export { refusalError, refusalIsFinal } from './refusal.js';
export { Link, openLink, type LinkOptions } from './link.js';
export { Worlds, type NewWorldSpec, type WorldInfo, type WorldSession, type WorldsOptions } from './worlds.js';
export type { AgentEvents, AgentStats, CodecName, ConnectOptions, IntentInput } from './options.js';
export type { ActOptions, ActResult, AttemptRecord, Generate, GenerateContext, GeneratedIntent } from './act.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { canonicalText, defaultDigest, memberText, nodeDigest, viewDigest, ViewDigester, webCryptoDigest, type DigestFunction, type MemberChanges } from './digest.js';
export type { ClockEstimate, LatencySummary } from './stats.js';
export type { Observation, View } from './view.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
export type { TokenSource } from './token.js';
export { Subprotocol, type IntentResult, type Cancelled, type StaleCause, type JsonValue } from '../../server/protocol/index.js';
export { WorldlineError, errorFromBody, errorFromHttp, isWorldlineError } from '../../server/errors.js';
