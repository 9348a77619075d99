import type { AccessLogCheckpoint, AccessLogFormat, AccessLogParser, AccessLogParserOptions } from './format';
import { NdjsonAccessLogParser } from './ndjson';
import { Pkcs11SpyParser } from './pkcs11-spy';

export { ACCESS_LOG_FORMATS } from './format';
export type { AccessLogCheckpoint, AccessLogFormat, AccessLogParser, AccessLogParserOptions, LogProblem, ObservedKey, ObservedUse, ParsedAccessLog } from './format';
export { isKnownTimeZone, wallTimeToIso } from './local-time';
export { NdjsonAccessLogParser } from './ndjson';
export { Pkcs11SpyParser } from './pkcs11-spy';

/** A parser of `format`, fresh or resumed from a checkpoint it wrote. */
export function createAccessLogParser(format: AccessLogFormat, options: AccessLogParserOptions = {}, checkpoint?: AccessLogCheckpoint): AccessLogParser {
  switch (format) {
    case 'pkcs11-spy':
      return new Pkcs11SpyParser(options, checkpoint);
    case 'ndjson':
      return new NdjsonAccessLogParser(checkpoint);
  }
}
