-- Threat-intelligence indicators, posted by operators (POST /threat-intel) or pulled from a feed. Re-posting an id
-- updates it. An indicator counts in the risk score of the keys it applies to until it expires; expired ones are kept.
CREATE TABLE threat_indicators (
  id              text PRIMARY KEY,
  -- 0–1, what the risk score combines; severity_level keeps the named level it was given as (null: given as a number).
  severity        double precision NOT NULL CHECK (severity >= 0 AND severity <= 1),
  severity_level  text CHECK (severity_level IN ('low', 'medium', 'high', 'critical')),
  scope           text NOT NULL CHECK (scope IN ('key', 'app', 'all')),
  target          text,
  expires_at      timestamptz NOT NULL,
  source          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      text NOT NULL,
  CHECK ((scope = 'all') = (target IS NULL))
);
CREATE INDEX threat_indicators_scope_target ON threat_indicators (scope, target);

-- One row per pull of the configured feed, so that an operator sees whether it works and how much it brought.
CREATE TABLE threat_feed_pulls (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  ok          boolean NOT NULL,
  received    integer NOT NULL DEFAULT 0,
  created     integer NOT NULL DEFAULT 0,
  updated     integer NOT NULL DEFAULT 0,
  unchanged   integer NOT NULL DEFAULT 0,
  error       text
);

-- Raw usage events are deleted by age (usage.rawRetention). Events arrive roughly in time order, so a BRIN index finds
-- the old ones at almost no cost to ingest, where a B-tree on ts would be maintained on every insert.
CREATE INDEX usage_events_ts_brin ON usage_events USING brin (ts);
