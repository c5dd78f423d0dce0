/** The durable event log: the public surface of server/log. */
export { openLog, EventLog, type OpenLogOptions, type Durability } from './event-log.js';
export { verifyLog, type VerifyReport, type VerifyOptions } from './verify.js';
export { analyzeLog, type LogAnalysis, type LogProblem } from './recovery.js';
export { analyzeLogParallel } from './scan-pool.js';
export { nodeFileLayer, type FileLayer } from './files.js';
export { CHECKPOINT_KIND } from './checkpoints.js';
export { canonicalBytes, FORMAT_VERSION } from './format.js';
export { openLogReadOnly, type ReadOnlyLog } from './read-only.js';
