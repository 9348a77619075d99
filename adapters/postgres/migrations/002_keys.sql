-- Managed keys as the lifecycle workflows last recorded them. The workflow is the writer; the API reads.
CREATE TABLE keys (
  name              text PRIMARY KEY,
  key_type          text NOT NULL,
  phase             text NOT NULL,
  policy            jsonb NOT NULL,
  active_version    integer,
  next_rotation_at  timestamptz,
  created_at        timestamptz NOT NULL,
  created_by        text NOT NULL,
  updated_at        timestamptz NOT NULL,
  -- The highest event sequence applied: a late retry of an older record never overwrites a newer one.
  event_seq         integer NOT NULL DEFAULT 0
);

CREATE TABLE key_versions (
  name            text NOT NULL REFERENCES keys (name),
  version         integer NOT NULL,
  kid             text NOT NULL UNIQUE,
  fingerprint     char(64) NOT NULL,
  state           text NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'archived', 'purged', 'compromised')),
  spki            text NOT NULL,
  generated_on    text NOT NULL,
  created_at      timestamptz NOT NULL,
  activated_at    timestamptz,
  retiring_at     timestamptz,
  archived_at     timestamptz,
  purged_at       timestamptz,
  compromised_at  timestamptz,
  grace_deadline  timestamptz,
  purge_after     timestamptz,
  lineage         jsonb NOT NULL,
  verdict         jsonb,
  PRIMARY KEY (name, version)
);
CREATE INDEX key_versions_published ON key_versions (state) WHERE state IN ('active', 'retiring');

-- One row per lifecycle event recorded: makes the record activity idempotent under retries.
CREATE TABLE key_events (
  event_id     text PRIMARY KEY,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Retired private keys, wrapped inside the HSMs under the archive key; the clear key never leaves an HSM.
CREATE TABLE archive_blobs (
  name         text NOT NULL,
  version      integer NOT NULL,
  fingerprint  char(64) NOT NULL,
  wrapped      bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);

-- Applications told about new public keys. The secret signs deliveries (HMAC-SHA256); it is shown once at creation.
CREATE TABLE webhook_subscriptions (
  id          uuid PRIMARY KEY,
  url         text NOT NULL,
  secret      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  deleted_at  timestamptz
);
