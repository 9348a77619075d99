-- The last check of each node's audit anchor (the signed audit chain head the key map sync keeps in its HSM). Kept
-- apart from keymap_nodes: none of it is part of the key map, and an intruder who empties this table still faces the
-- anchors on the nodes at the next sync.
CREATE TABLE audit_anchors (
  node_id        text PRIMARY KEY,
  -- What the node's anchor names (null when it holds none that verifies).
  seq            bigint,
  hash           char(64),
  status         text NOT NULL CHECK (status IN ('valid', 'missing', 'tampered', 'unverifiable', 'ahead-of-database', 'mismatch')),
  problem        text,
  -- What the log held when checked: its head, and its entry's hash at the anchored seq.
  database_seq   bigint,
  database_hash  char(64),
  checked_at     timestamptz NOT NULL,
  written_at     timestamptz
);
