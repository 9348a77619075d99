-- One row per harvest and node: pool health, source states, assessments and battery results (never pool contents).
CREATE TABLE entropy_reports (
  id        bigserial PRIMARY KEY,
  node_id   text NOT NULL,
  at        timestamptz NOT NULL,
  healthy   boolean NOT NULL,
  snapshot  jsonb NOT NULL,
  sources   jsonb NOT NULL
);
CREATE INDEX entropy_reports_node_at ON entropy_reports (node_id, at DESC);

-- The pool snapshot of the node that generated a version: its entropy provenance.
ALTER TABLE key_versions ADD COLUMN entropy_provenance jsonb;
