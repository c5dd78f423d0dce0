/** Worker thread body for the parallel recovery scan: scans the segment files it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { HeaderError, scanSegmentOrSeal } from './scan.js';

export interface ScanRequest {
  readonly id: number;
  readonly file: string;
  readonly collectCheckpoints: boolean;
  readonly wantHashes: number[];
  readonly trustSeal: boolean;
}

parentPort?.on('message', (m: ScanRequest) => {
  try {
    const scan = scanSegmentOrSeal(m.file, { verifyHashes: true, collectCheckpoints: m.collectCheckpoints, wantHashes: new Set(m.wantHashes), trustSeal: m.trustSeal });
    parentPort!.postMessage({ id: m.id, scan });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, headerError: err instanceof HeaderError ? err.message : undefined, error: err instanceof HeaderError ? undefined : String((err as Error).stack ?? err) });
  }
});

// Tell the pool this worker is listening, so no request is posted before the handler exists.
parentPort?.postMessage({ ready: true });
