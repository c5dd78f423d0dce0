/**
 * The simulation core's public API. Construct a world with defineWorld, run it with WorldRuntime.open on an
 * EventLogPort and a Clock, and reach it through the runtime, the facades, or replayWorld.
 */
export { SCHEMA_VERSION } from './types.js';
export type { DeltaFragment, Effect, EffectDraft, EntityRecord, Intent, IntentOutcome, JsonObject, JsonValue, ObservationDelta, PatchOp, StaleCause, View, WorldState } from './types.js';
export type { AppendResult, Clock, EventLogPort, LogMeta, LogRecord, Rng, SnapshotRecord } from './ports.js';
export { defineWorld, agentClass } from './world.js';
export type {
  AgentClassPolicy,
  ApplyContext,
  BackpressurePolicy,
  DraftContext,
  EffectKindHandler,
  InterruptPolicy,
  ObservationPolicy,
  ObservedEntity,
  RateQuota,
  RuleViolation,
  StateReader,
  SystemContext,
  WorldDefinition,
  WorldPolicies,
  WorldSpec,
  WorldSystem,
  WorldValidator,
} from './world.js';
export type { StateMutator } from './state.js';
export { stateHashOf } from './state.js';
export { setDigestOf } from './set-digest.js';
export type { StatefulRng } from './rng.js';
export { BUILTIN_KINDS } from './effects.js';
export { WorldRuntime } from './runtime.js';
export type { AgentInfo, CancelResult, DeliveryListener, EmitOutcome, QuantumDelivery, RuntimeOptions } from './runtime.js';
export type { QuantumReport } from './quantum.js';
export type { GenerationToken } from './cancellation.js';
// Encode-once: where a delta's shared fragments are stored (no copy), and letting a long-held delta go of its block.
export { fragmentRange, newFragmentRange, detachFragments, FragmentTable } from './delta-fragments.js';
export type { FragmentRange } from './delta-fragments.js';
export { RlEnv, MessageEnv } from './facades.js';
export type { AgentMessage, StepIntent, Subscription } from './facades.js';
export { replayWorld } from './replay.js';
export type { ReplayOptions, ReplayResult } from './replay.js';
export type { Divergence } from './restore.js';
export { describeDivergence } from './restore.js';
export { RecordKind } from './records.js';
export { canonicalJson, encodeEffect, escapePointerToken, viewDigest } from './canonical.js';
