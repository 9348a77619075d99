import { readLogFrom, type LogPosition, type TailEvent } from '../adapters/usage/log-tailer';
import type { AccessLogFormat } from '../domain/usage/access-log';
import { countUses, type CountedUse } from '../domain/usage/observed-usage';
import { withTypedFailures } from './failures';
import { withHeartbeats } from './heartbeat';

export interface ReadAccessLogInput {
  path: string;
  format: AccessLogFormat;
  timeZone?: string;
  /** Where the last stored read ended; null: from the start of the file. */
  from: LogPosition | null;
}

export interface ReadAccessLogResult {
  uses: CountedUse[];
  /** Lines or records that could not be read, by count only: a log may hold secrets, so none is quoted. */
  problems: number;
  to: LogPosition;
  events: TailEvent[];
  more: boolean;
}

/**
 * Reading the access logs of one node, on its task queue: the files are on the node's machine, beside the applications
 * that write them. The read is pure (nothing is stored here): the control worker stores its uses and its end position
 * in one transaction, so that a crash between the two repeats the read rather than losing or doubling it.
 */
export function createHsmAccessLogActivities() {
  return withHeartbeats(withTypedFailures({
    async readAccessLog(input: ReadAccessLogInput): Promise<ReadAccessLogResult> {
      const read = await readLogFrom(input.path, input.format, input.from, input.timeZone === undefined ? {} : { timeZone: input.timeZone });
      return { uses: countUses(read.uses), problems: read.problems.length, to: read.position, events: read.events, more: read.more };
    },
  }));
}

export type HsmAccessLogActivities = ReturnType<typeof createHsmAccessLogActivities>;
