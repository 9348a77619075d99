/**
 * Every error code keyrotor gives, once: the HTTP status a client sees, whether trying again can help, and whether the
 * message is meant for the client (`shown`; otherwise the client gets a generic problem and the message is logged).
 * `KeyrotorError`, the failures activities and workflows raise, and the API's problem+json all take their codes from
 * here, so a code that is not listed does not compile.
 *
 * `retryable: 'by-cause'` means the one who raises it decides from the cause (the CKR table, the SQLSTATE class, the
 * HTTP status of a feed), and must say so.
 */
export interface ErrorCodeSpec {
  status: number;
  retryable: boolean | 'by-cause';
  shown: boolean;
}

const refused = (status = 400) => ({ status, retryable: false, shown: true }) as const;
const conflict = refused(409);
const dependency = <R extends boolean | 'by-cause'>(retryable: R) => ({ status: 503, retryable, shown: false }) as const;
const internal = (retryable = false) => ({ status: 500, retryable, shown: false }) as const;

export const ERROR_CODES = {
  // Requests the API refuses (also what a lifecycle workflow's Update validators refuse).
  invalid_request: refused(),
  bad_request: refused(),
  invalid_text: refused(),
  reason_required: refused(),
  invalid_extension: refused(),
  invalid_policy: refused(),
  invalid_duration: refused(),
  invalid_key_name: refused(),
  invalid_key_type: refused(),
  unsupported_key_type: refused(),
  invalid_key_list: refused(),
  unknown_sensitivity_class: refused(),
  grace_outlasts_usage_retention: refused(),
  confirmation_mismatch: refused(),
  invalid_usage_batch: refused(),
  invalid_threat_indicators: refused(),
  invalid_threat_indicator: refused(),
  invalid_risk_weights: refused(),
  invalid_sensitivity_weights: refused(),
  // Refused at subscription (400); a delivery refused later is retried: the target may be allowlisted meanwhile.
  webhook_target_refused: { status: 400, retryable: 'by-cause', shown: true },
  unauthenticated: refused(401),
  forbidden: refused(403),
  not_found: refused(404),
  route_not_found: refused(404),
  // The key's state does not allow the request now.
  key_exists: conflict,
  key_decommissioned: conflict,
  key_held: conflict,
  not_held: conflict,
  key_not_ready: conflict,
  key_busy: conflict,
  rotation_in_progress: conflict,
  grace_period_running: conflict,
  no_grace_period: conflict,
  grace_completing: conflict,
  grace_cap_exceeded: conflict,
  evaluation_running: conflict,
  // A version's usage attributes on the node (encryptionUsageFor of its state) forbid the envelope operation: only the
  // active version wraps new data keys; a compromised version without decryptAfterCompromise unwraps none.
  version_cannot_wrap: conflict,
  version_cannot_unwrap: conflict,
  // A ciphertext's version: never made, archived (below minDecryptionVersion: its key is only in the encrypted
  // archive), purged (gone for good), or a key that has no envelope operations (not aes-256).
  version_not_found: refused(404),
  version_archived: conflict,
  version_purged: refused(410),
  not_an_envelope_key: refused(),
  // The Idempotency-Key header: the same key with another request, or while its first request is still being answered.
  idempotency_key_reused: refused(422),
  idempotency_key_in_progress: conflict,
  // Inputs of the domain's calculations (prediction, SP 800-22, SP 800-90B, the DRBG) and of the PKCS#11 adapter.
  invalid_series: refused(),
  invalid_horizon: refused(),
  insufficient_history: refused(),
  series_too_short: refused(),
  invalid_backtest_options: refused(),
  invalid_anomaly_options: refused(),
  invalid_forest_options: refused(),
  invalid_forest_model: refused(),
  invalid_bit_sequence: refused(),
  invalid_sts_parameter: refused(),
  invalid_conditioning: refused(),
  invalid_bits_per_sample: refused(),
  invalid_min_entropy: refused(),
  invalid_alpha: refused(),
  insufficient_entropy: refused(),
  no_samples: refused(),
  invalid_rsp: refused(),
  drbg_invalid_reseed_interval: refused(),
  drbg_no_entropy_source: refused(),
  drbg_nonce_too_short: refused(),
  drbg_request_too_large: refused(),
  drbg_prediction_resistance_unavailable: refused(),
  drbg_reseed_required: refused(),
  drbg_entropy_too_short: refused(),
  drbg_input_too_long: refused(),
  invalid_fingerprint: refused(),
  invalid_shard: refused(),
  invalid_label: refused(),
  invalid_base64: refused(),
  invalid_public_key: refused(),
  invalid_usage: refused(),
  key_type_mismatch: refused(),
  fingerprint_mismatch: refused(),
  // Envelope encryption (domain/keys/ciphertext.ts, adapters/pkcs11/envelope.ts): a ciphertext that is malformed or
  // does not open under its KEK, one for another key, a transport key or data key size the adapter does not take.
  invalid_ciphertext: refused(),
  ciphertext_for_other_key: refused(),
  invalid_transport_key: refused(),
  invalid_data_key_size: refused(),
  invalid_threat_feed: refused(),
  // What an operator starting keyrotor or running a command can fix.
  secret_missing: refused(),
  secret_exposed: refused(),
  port_in_use: refused(),
  port_not_permitted: refused(),
  address_not_available: refused(),
  not_a_provisioning_parent: refused(),
  external_services_required: refused(),
  temporal_address_required: refused(),
  database_url_required: refused(),
  unknown_node: refused(),
  token_required: refused(),
  invalid_assignment: refused(),
  confirmation_required: refused(),
  not_confirmed: refused(),
  invalid_series_csv: refused(),
  series_unreadable: refused(),
  file_unreadable: refused(),
  ingest_refused: refused(),
  invalid_batch: refused(),
  invalid_ndjson: refused(),
  sts_input_unreadable: refused(),
  sts_empty_input: refused(),
  sts_insufficient_data: refused(),
  /** The CLI's view of a 4xx problem the API answered (the API's own code stays in the problem). */
  api_refused: refused(),
  // Something outside keyrotor failed; operators read the message, clients do not.
  dns_unavailable: dependency(true),
  entropy_hold: dependency(true),
  /** No worker of an HSM node took a lifecycle step in time: the key waits for the node (domain/keys/node-wait.ts). */
  node_away: dependency(true),
  keymap_digest_conflict: dependency(false),
  keymap_signing_key_missing: dependency(true),
  threat_feed_too_large: dependency(false),
  threat_feed_unreachable: dependency(true),
  threat_feed_redirected: dependency(false),
  threat_feed_failed: dependency('by-cause'),
  threat_feed_not_json: dependency(false),
  webhook_failed: dependency(true),
  api_unreachable: dependency(true),
  api_unavailable: dependency(true),
  temporal_unreachable: dependency(true),
  /**
   * Temporal ended an Update's calls without its outcome for longer than the API waits (adapters/temporal/updates.ts):
   * the change may still happen. The API answers it with Retry-After and a fixed text saying so (api/errors.ts); the
   * same request with the same Idempotency-Key gets the outcome.
   */
  update_outcome_unknown: dependency(true),
  // keyrotor's own state or code is wrong; raised by activities for Temporal, or logged whole.
  invalid_configuration: internal(),
  drbg_self_test_failed: internal(),
  /** Anything unexpected: Temporal retries an activity that fails so; the API logs it and answers 500. */
  internal_error: internal(true),
  /** A lifecycle step's activity failed without a keyrotor code (a timeout, a lost worker). */
  step_failed: internal(),
  /** A version asked to move where its state table has no edge: a defect of the lifecycle code. */
  invalid_version_transition: internal(),
  archive_missing: internal(),
  wrong_node: internal(),
  keymap_lease_lost: internal(),
  keymap_cluster_mismatch: internal(),
  keymap_sync_busy: internal(true),
} as const satisfies Record<string, ErrorCodeSpec>;

/**
 * Codes made from an outside error's own name: `hsm_` + the CKR name (adapters/pkcs11/errors.ts, whose table says which
 * can be retried; also `hsm_error` and `hsm_key_not_found`) and `db_` + the SQLSTATE (retried by its class; `db_unavailable`, no answer at all, is
 * retried).
 */
export const ERROR_CODE_FAMILIES = {
  hsm_: dependency('by-cause'),
  db_: dependency('by-cause'),
} as const satisfies Record<string, ErrorCodeSpec>;

type Table = typeof ERROR_CODES;
export type ListedErrorCode = keyof Table;
export type FamilyErrorCode = `${keyof typeof ERROR_CODE_FAMILIES}${string}`;
export type ErrorCode = ListedErrorCode | FamilyErrorCode;
/** Codes whose message is meant for the client: the only ones a `UserError` may carry. */
export type ShownErrorCode = { [C in ListedErrorCode]: Table[C]['shown'] extends true ? C : never }[ListedErrorCode];
/** Codes whose raiser decides, from the cause, whether a retry can help. */
export type ByCauseErrorCode = { [C in ListedErrorCode]: Table[C]['retryable'] extends 'by-cause' ? C : never }[ListedErrorCode] | FamilyErrorCode;
/** Codes of outside failures (503): the only ones an `ExternalError` may carry. */
export type DependencyErrorCode = { [C in ListedErrorCode]: Table[C]['status'] extends 503 ? C : never }[ListedErrorCode] | FamilyErrorCode;
/** Codes of keyrotor's own failures (500). */
export type InternalErrorCode = { [C in ListedErrorCode]: Table[C]['status'] extends 500 ? C : never }[ListedErrorCode];

const LISTED: Readonly<Record<string, ErrorCodeSpec>> = ERROR_CODES;
const FAMILIES = Object.entries(ERROR_CODE_FAMILIES) as Array<[string, ErrorCodeSpec]>;

/** The table's entry for a code, or undefined for a string that is not one (a failure type read back from Temporal). */
export function errorCodeSpec(code: string): ErrorCodeSpec | undefined {
  if (Object.hasOwn(LISTED, code)) return LISTED[code];
  return FAMILIES.find(([prefix]) => code.startsWith(prefix) && code.length > prefix.length)?.[1];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && errorCodeSpec(value) !== undefined;
}

export function isShownErrorCode(value: unknown): value is ShownErrorCode {
  return typeof value === 'string' && errorCodeSpec(value)?.shown === true;
}

/** Whether a failure with this code should be retried; `byCause` answers for the codes whose cause decides. */
export function isRetryable(code: ErrorCode, byCause?: boolean): boolean {
  const { retryable } = errorCodeSpec(code) as ErrorCodeSpec;
  return retryable === 'by-cause' ? byCause ?? true : retryable;
}
