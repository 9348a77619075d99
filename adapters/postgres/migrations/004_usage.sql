-- HSM access logs as applications and HSMs report them. Raw events are kept for a configurable time; the hourly
-- aggregates stay for the models.
CREATE TABLE usage_events (
  id           bigserial PRIMARY KEY,
  event_id     text UNIQUE,
  ts           timestamptz NOT NULL,
  key          text NOT NULL REFERENCES keys (name),
  version      integer NOT NULL,
  op           text NOT NULL CHECK (op IN ('sign', 'verify', 'encrypt', 'decrypt', 'wrap', 'unwrap')),
  app          text NOT NULL,
  node         text,
  count        integer NOT NULL CHECK (count > 0),
  sensitivity  text,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_key_version_ts ON usage_events (key, version, ts);

CREATE TABLE usage_hourly (
  key      text NOT NULL,
  version  integer NOT NULL,
  op       text NOT NULL,
  hour     timestamptz NOT NULL,
  count    bigint NOT NULL,
  PRIMARY KEY (key, version, op, hour)
);
