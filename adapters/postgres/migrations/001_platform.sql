-- Audit log: append-only, hash-chained. The trigger stops ordinary UPDATE and DELETE; the chain catches the rest.
CREATE TABLE audit_log (
  seq        bigint PRIMARY KEY,
  at         timestamptz NOT NULL,
  actor      text NOT NULL,
  action     text NOT NULL,
  subject    text NOT NULL,
  details    jsonb NOT NULL,
  prev_hash  char(64) NOT NULL,
  hash       char(64) NOT NULL UNIQUE
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- API tokens: only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
  token_hash  char(64) NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  revoked_at  timestamptz
);

-- Alerts, deduplicated by key while open (not acknowledged).
CREATE TABLE alerts (
  id               uuid PRIMARY KEY,
  dedup_key        text NOT NULL,
  severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  source           text NOT NULL,
  subject          text NOT NULL,
  message          text NOT NULL,
  first_seen       timestamptz NOT NULL,
  last_seen        timestamptz NOT NULL,
  count            integer NOT NULL DEFAULT 1,
  acknowledged_by  text,
  acknowledged_at  timestamptz
);
CREATE UNIQUE INDEX alerts_open_dedup ON alerts (dedup_key) WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_last_seen ON alerts (last_seen DESC);

-- Outbox of alert deliveries to webhook sinks: a crash between raising and delivering loses nothing.
CREATE TABLE alert_deliveries (
  alert_id         uuid NOT NULL REFERENCES alerts (id),
  sink_id          text NOT NULL,
  event            text NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  delivered_at     timestamptz,
  failed_at        timestamptz,
  last_error       text,
  PRIMARY KEY (alert_id, sink_id, event)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
