/**
 * Worldline's public API (`import { ... } from 'worldline'`): define a world in code and serve it, run it in
 * process through the runtime and its facades, and open, verify and replay its log. Internals that tests and
 * benchmarks reach for are in './internal'.
 */
export * from './core/index.js';
export { WorldlineError, isWorldlineError, ErrorCatalogue, Recovery, type ErrorName } from './errors.js';
export { openLog, openLogReadOnly, verifyLog, EventLog, type OpenLogOptions, type Durability, type VerifyReport, type VerifyOptions, type ReadOnlyLog } from './log/index.js';
export { loadConfig, hostedWorlds, parseHostedWorld, CONFIG_KEYS, type Config, type ConfigKey, type HostedWorld, type LoadConfigOptions } from './config.js';
export { startServer, type NewWorld, type RunningServer, type ServedWorld, type ServerDeps, type WorldInCode } from './transport/server.js';
export { worlds, resolveWorld, loadWorld, makeArena, arenaEntityId, defaultWorld, type ArenaOptions } from './worlds/index.js';
export { createWorldCodecs, Subprotocol, WireSession, SUBPROTOCOLS, type WireCodec, type Frame, type ServerMessage, type ClientMessage, type WireOp } from './protocol/index.js';
