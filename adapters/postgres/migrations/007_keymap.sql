-- The cluster key map. Keys and versions stay in keys / key_versions (the lifecycle writes them); the map adds which
-- node holds which objects, each node's entropy health and sync bookkeeping, and an epoch that every change bumps.

-- One row: the map's epoch. Triggers below bump it in the same transaction as each change, so reading the epoch and
-- the map in one snapshot always gives the same map for the same epoch.
CREATE TABLE keymap_state (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  epoch       bigint NOT NULL,
  changed_at  timestamptz NOT NULL
);
INSERT INTO keymap_state (id, epoch, changed_at) VALUES (true, 0, now());

-- The epoch at which anything of a key (its row, a version, a holding) last changed.
CREATE TABLE keymap_key_changes (
  name   text PRIMARY KEY,
  epoch  bigint NOT NULL
);

CREATE TABLE keymap_holdings (
  name         text NOT NULL,
  version      integer NOT NULL,
  node_id      text NOT NULL,
  private_key  boolean NOT NULL,
  public_key   boolean NOT NULL,
  can_sign     boolean,
  PRIMARY KEY (name, version, node_id),
  FOREIGN KEY (name, version) REFERENCES key_versions (name, version)
);

CREATE TABLE keymap_nodes (
  node_id              text PRIMARY KEY,
  -- Whether the node is in the configured cluster; the map lists members only.
  member               boolean NOT NULL,
  -- Coarse entropy health from the node's newest harvest report: part of the map.
  entropy_health       jsonb NOT NULL,
  -- Sync bookkeeping, outside the map's digest.
  last_sync_at         timestamptz,
  last_seen_at         timestamptz,
  stale_since          timestamptz,
  stale_reason         text,
  acked_epoch          bigint,
  acked_digest         char(64),
  acked_at             timestamptz,
  snapshot_status      text,
  snapshot_problem     text,
  snapshot_checked_at  timestamptz,
  tampered_at          timestamptz,
  drift                jsonb
);

CREATE FUNCTION keymap_bump_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bumped bigint;
  changed text;
BEGIN
  UPDATE keymap_state SET epoch = epoch + 1, changed_at = now() RETURNING epoch INTO bumped;
  IF TG_TABLE_NAME <> 'keymap_nodes' THEN
    changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END;
    INSERT INTO keymap_key_changes (name, epoch) VALUES (changed, bumped)
      ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch;
  END IF;
  RETURN NULL;
END $$;

-- Only what the map shows counts as a change: keys.updated_at and event_seq move with every recorded event.
CREATE TRIGGER keymap_keys_inserted AFTER INSERT ON keys FOR EACH ROW EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_keys_changed AFTER UPDATE ON keys FOR EACH ROW
  WHEN ((OLD.phase, OLD.policy, OLD.active_version, OLD.next_rotation_at) IS DISTINCT FROM (NEW.phase, NEW.policy, NEW.active_version, NEW.next_rotation_at))
  EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_versions_inserted AFTER INSERT ON key_versions FOR EACH ROW EXECUTE FUNCTION keymap_bump_epoch();
-- The verdict of a transition check is not part of the map.
CREATE TRIGGER keymap_versions_changed AFTER UPDATE ON key_versions FOR EACH ROW
  WHEN ((OLD.state, OLD.activated_at, OLD.retiring_at, OLD.archived_at, OLD.purged_at, OLD.compromised_at, OLD.grace_deadline,
         OLD.purge_after, OLD.lineage, OLD.entropy_provenance)
        IS DISTINCT FROM
        (NEW.state, NEW.activated_at, NEW.retiring_at, NEW.archived_at, NEW.purged_at, NEW.compromised_at, NEW.grace_deadline,
         NEW.purge_after, NEW.lineage, NEW.entropy_provenance))
  EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_holdings_added_or_removed AFTER INSERT OR DELETE ON keymap_holdings FOR EACH ROW EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_holdings_changed AFTER UPDATE ON keymap_holdings FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_nodes_inserted AFTER INSERT ON keymap_nodes FOR EACH ROW EXECUTE FUNCTION keymap_bump_epoch();
CREATE TRIGGER keymap_nodes_changed AFTER UPDATE ON keymap_nodes FOR EACH ROW
  WHEN ((OLD.member, OLD.entropy_health) IS DISTINCT FROM (NEW.member, NEW.entropy_health))
  EXECUTE FUNCTION keymap_bump_epoch();

-- The digest of every epoch a sync signed.
CREATE TABLE keymap_epochs (
  epoch        bigint PRIMARY KEY,
  digest       char(64) NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- The cluster map-signing key: an EC P-256 pair made on one node and replicated to all, like a managed key.
CREATE TABLE keymap_signing_key (
  id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
  fingerprint         char(64) NOT NULL,
  spki                text NOT NULL,
  key_type            text NOT NULL,
  label               text NOT NULL,
  generated_on        text NOT NULL,
  entropy_provenance  jsonb,
  created_at          timestamptz NOT NULL DEFAULT now()
);

-- One sync at a time, whoever started it (schedule, lifecycle step or operator): a lease with an expiry, renewed at
-- every step, so that a sync whose workflow was terminated cannot hold the next ones for ever.
CREATE TABLE keymap_sync_lease (
  id           boolean PRIMARY KEY DEFAULT true CHECK (id),
  holder       text,
  acquired_at  timestamptz,
  expires_at   timestamptz
);
INSERT INTO keymap_sync_lease (id) VALUES (true);

CREATE TABLE keymap_sync_runs (
  run_id       text PRIMARY KEY,
  trigger      text NOT NULL,
  actor        text NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  result       jsonb
);
CREATE INDEX keymap_sync_runs_started ON keymap_sync_runs (started_at DESC);
