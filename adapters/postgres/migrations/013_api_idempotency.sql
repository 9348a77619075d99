-- Idempotency keys of the API (the Idempotency-Key header): per token and key, the request's hash and, once it is
-- answered, the answer, so that a client that retries a request it is not sure arrived gets the first answer instead
-- of a second rotation. Kept a day; a claim deletes the expired ones.
CREATE TABLE api_idempotency (
  token_id      uuid NOT NULL,
  idem_key      text NOT NULL,
  operation     text NOT NULL,
  request_hash  char(64) NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  status        integer,
  response      jsonb,
  completed_at  timestamptz,
  PRIMARY KEY (token_id, idem_key)
);
CREATE INDEX api_idempotency_started_at ON api_idempotency (started_at);

-- The application's role may claim, answer and expire them; the list of grants is 012's with this table added.
CREATE OR REPLACE FUNCTION keyrotor_grant_application(app_role name) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  target name := current_schema();
  grants text[] := ARRAY[
    'SELECT, INSERT ON audit_log',
    'SELECT, INSERT, UPDATE (revoked_at) ON api_tokens',
    'SELECT, INSERT, UPDATE (last_seen, count, message, severity, acknowledged_by, acknowledged_at) ON alerts',
    'SELECT, INSERT, UPDATE (attempts, next_attempt_at, delivered_at, failed_at, last_error) ON alert_deliveries',
    'SELECT, INSERT, UPDATE ON keys',
    'SELECT, INSERT, UPDATE ON key_versions',
    'SELECT, INSERT ON key_events',
    'SELECT, INSERT, UPDATE (fingerprint, wrapped), DELETE ON archive_blobs',
    'SELECT, INSERT, UPDATE (deleted_at, secret) ON webhook_subscriptions',
    'SELECT, INSERT ON entropy_reports',
    -- Raw usage events are deleted by age (usage.rawRetention); the hourly aggregates only grow.
    'SELECT, INSERT, DELETE ON usage_events',
    'SELECT, INSERT, UPDATE (count) ON usage_hourly',
    'SELECT, INSERT, UPDATE, DELETE ON threat_indicators',
    'SELECT, INSERT, DELETE ON threat_feed_pulls',
    'SELECT, INSERT ON forecast_models',
    -- Risk evaluations are deleted by age (prediction.evaluationRetention).
    'SELECT, INSERT, DELETE ON risk_evaluations',
    -- The epoch triggers run as the role whose change fires them.
    'SELECT, UPDATE ON keymap_state',
    'SELECT, INSERT, UPDATE ON keymap_key_changes',
    'SELECT, INSERT, UPDATE, DELETE ON keymap_holdings',
    'SELECT, INSERT, UPDATE ON keymap_nodes',
    'SELECT, INSERT ON keymap_epochs',
    'SELECT, INSERT ON keymap_signing_key',
    'SELECT, UPDATE ON keymap_sync_lease',
    'SELECT, INSERT, UPDATE ON keymap_sync_runs',
    'SELECT, INSERT, UPDATE ON audit_anchors',
    'SELECT, INSERT, UPDATE ON access_log_positions',
    'SELECT, INSERT, UPDATE, DELETE ON api_idempotency'
  ];
  item text;
BEGIN
  IF app_role = current_user THEN
    RAISE EXCEPTION 'the application role % is the role that owns the schema; give the application a role of its own', app_role;
  END IF;
  -- From nothing, so that the role ends with exactly what follows whatever it was given before.
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', target, app_role);
  EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', target, app_role);
  EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', target, app_role);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', target, app_role);
  FOREACH item IN ARRAY grants LOOP
    EXECUTE format('GRANT %s TO %I', item, app_role);
  END LOOP;
  -- The bigserial ids of entropy_reports, usage_events and threat_feed_pulls.
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', target, app_role);
END $$;
REVOKE EXECUTE ON FUNCTION keyrotor_grant_application(name) FROM PUBLIC;
