/**
 * Internals for tests, benchmarks and tools: every module's own API, beyond the public one in index.ts. Nothing here
 * is stable between versions.
 */
export * from './index.js';
export * as core from './core/index.js';
export * as log from './log/index.js';
export * as protocol from './protocol/index.js';
export { WorldHost, DEFAULT_RESUME_TAIL, type WorldHostOptions } from './transport/world-host.js';
export { createLogger, type Logger } from './obs/logger.js';
export { createMetrics, type Metrics } from './obs/metrics.js';
export { main as cli } from './cli/main.js';
