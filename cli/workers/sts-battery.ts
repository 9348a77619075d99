/**
 * The worker thread of `keyrotor sts`: it runs the tests named in workerData.tests on each sequence the command posts
 * ({ id, bits }) and posts back { id, results }, while the command's own thread runs the other tests. Precompiled to
 * cli/dist/workers/sts-battery.js by scripts/build-cli.js, with the SP 800-22 code it needs and nothing else, so that
 * it starts in a few milliseconds.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type BatteryOptions, runTests, type TestName, type TestResult } from '../../domain/sp800-22';

export interface StsWorkerData {
  tests: TestName[];
  options: BatteryOptions;
}

export interface StsWorkerRequest {
  id: number;
  bits: Uint8Array;
}

export type StsWorkerReply = { id: number; results: TestResult[] } | { id: number; error: string };

const { tests, options } = workerData as StsWorkerData;
parentPort?.on('message', ({ id, bits }: StsWorkerRequest) => {
  let reply: StsWorkerReply;
  try {
    reply = { id, results: runTests(bits, tests, options) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
