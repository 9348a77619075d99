-- Usage observed at the HSM: every usage event and hourly aggregate says where it came from. `app-report` is what an
-- application sent (POST /usage, keyrotor ingest); `hsm-log` is what an HSM access log showed (usage.accessLogs).
-- The hourly aggregates keep the two apart, so that readers can prefer the HSM's view and compare the two.
ALTER TABLE usage_events ADD COLUMN source text NOT NULL DEFAULT 'app-report' CHECK (source IN ('app-report', 'hsm-log'));
ALTER TABLE usage_hourly ADD COLUMN source text NOT NULL DEFAULT 'app-report' CHECK (source IN ('app-report', 'hsm-log'));
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly ADD PRIMARY KEY (key, version, op, hour, source);

-- Where each access log was read to, stored in the transaction that stores the uses read up to there: a restart
-- neither loses nor repeats a use.
CREATE TABLE access_log_positions (
  path        text PRIMARY KEY,
  node        text NOT NULL,
  position    jsonb NOT NULL,
  read_at     timestamptz NOT NULL DEFAULT now()
);

-- What the application's role is granted, one row per grant, so that a migration that adds a table adds its row
-- instead of restating the whole list (010 had it in the function). The rows are 010's list, with the access-log
-- positions the application reads and moves.
CREATE TABLE application_grants (item text PRIMARY KEY);
INSERT INTO application_grants (item) VALUES
  ('SELECT, INSERT ON audit_log'),
  ('SELECT, INSERT, UPDATE (revoked_at) ON api_tokens'),
  ('SELECT, INSERT, UPDATE (last_seen, count, message, severity, acknowledged_by, acknowledged_at) ON alerts'),
  ('SELECT, INSERT, UPDATE (attempts, next_attempt_at, delivered_at, failed_at, last_error) ON alert_deliveries'),
  ('SELECT, INSERT, UPDATE ON keys'),
  ('SELECT, INSERT, UPDATE ON key_versions'),
  ('SELECT, INSERT ON key_events'),
  ('SELECT, INSERT, UPDATE (fingerprint, wrapped), DELETE ON archive_blobs'),
  ('SELECT, INSERT, UPDATE (deleted_at, secret) ON webhook_subscriptions'),
  ('SELECT, INSERT ON entropy_reports'),
  ('SELECT, INSERT, DELETE ON usage_events'),
  ('SELECT, INSERT, UPDATE (count) ON usage_hourly'),
  ('SELECT, INSERT, UPDATE, DELETE ON threat_indicators'),
  ('SELECT, INSERT, DELETE ON threat_feed_pulls'),
  ('SELECT, INSERT ON forecast_models'),
  ('SELECT, INSERT, DELETE ON risk_evaluations'),
  ('SELECT, UPDATE ON keymap_state'),
  ('SELECT, INSERT, UPDATE ON keymap_key_changes'),
  ('SELECT, INSERT, UPDATE, DELETE ON keymap_holdings'),
  ('SELECT, INSERT, UPDATE ON keymap_nodes'),
  ('SELECT, INSERT ON keymap_epochs'),
  ('SELECT, INSERT ON keymap_signing_key'),
  ('SELECT, UPDATE ON keymap_sync_lease'),
  ('SELECT, INSERT, UPDATE ON keymap_sync_runs'),
  ('SELECT, INSERT, UPDATE ON audit_anchors'),
  ('SELECT, INSERT, UPDATE ON access_log_positions');

CREATE OR REPLACE FUNCTION keyrotor_grant_application(app_role name) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  target name := current_schema();
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
  FOR item IN SELECT application_grants.item FROM application_grants ORDER BY application_grants.item LOOP
    EXECUTE format('GRANT %s TO %I', item, app_role);
  END LOOP;
  -- The bigserial ids of entropy_reports, usage_events and threat_feed_pulls.
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', target, app_role);
END $$;
REVOKE EXECUTE ON FUNCTION keyrotor_grant_application(name) FROM PUBLIC;
