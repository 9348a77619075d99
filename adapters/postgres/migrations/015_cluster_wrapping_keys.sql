-- The check value of each cluster wrapping key (the first three bytes of AES-ECB(key, 0^16), hex), as the nodes held
-- it when a start first saw it. Every key version this database records was made, replicated and archived under those
-- keys: a start whose nodes hold others (their tokens lost, or replaced by new ones) refuses to go on while any version
-- is not purged (domain/cluster-wrapping-keys.ts).
CREATE TABLE cluster_wrapping_keys (
  label        text PRIMARY KEY,
  check_value  text NOT NULL CHECK (check_value ~ '^[0-9a-f]{6}$'),
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO application_grants (item) VALUES ('SELECT, INSERT, UPDATE ON cluster_wrapping_keys');
