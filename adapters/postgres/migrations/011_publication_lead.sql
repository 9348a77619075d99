-- A rotation publishes its new version in the JWKS `publicationLead` before it activates it: the version is pending and
-- published in between. Versions activated before this existed were published when they were activated.
ALTER TABLE key_versions ADD COLUMN published_at timestamptz, ADD COLUMN activates_at timestamptz;
UPDATE key_versions SET published_at = activated_at WHERE activated_at IS NOT NULL;
CREATE INDEX key_versions_pending_published ON key_versions (state) WHERE state = 'pending' AND published_at IS NOT NULL;

-- What the map shows of a version now includes when it is published and when it activates.
DROP TRIGGER keymap_versions_changed ON key_versions;
CREATE TRIGGER keymap_versions_changed AFTER UPDATE ON key_versions FOR EACH ROW
  WHEN ((OLD.state, OLD.published_at, OLD.activates_at, OLD.activated_at, OLD.retiring_at, OLD.archived_at, OLD.purged_at, OLD.compromised_at,
         OLD.grace_deadline, OLD.purge_after, OLD.lineage, OLD.entropy_provenance)
        IS DISTINCT FROM
        (NEW.state, NEW.published_at, NEW.activates_at, NEW.activated_at, NEW.retiring_at, NEW.archived_at, NEW.purged_at, NEW.compromised_at,
         NEW.grace_deadline, NEW.purge_after, NEW.lineage, NEW.entropy_provenance))
  EXECUTE FUNCTION keymap_bump_epoch();
