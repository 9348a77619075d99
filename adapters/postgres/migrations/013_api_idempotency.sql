-- Idempotency keys of the API (the Idempotency-Key header): per token and key, the request's hash and, once it is
-- answered, the answer, so that a client that retries a request it is not sure arrived gets the first answer instead
-- of a second rotation. Kept a day; a claim deletes the expired ones.
CREATE TABLE api_idempotency (
  token_id      uuid NOT NULL,
  idem_key      text NOT NULL,
  operation     text NOT NULL,
  request_hash  char(64) NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  status        integer,
  response      jsonb,
  completed_at  timestamptz,
  PRIMARY KEY (token_id, idem_key)
);
CREATE INDEX api_idempotency_started_at ON api_idempotency (started_at);

-- The application's role may claim, answer and expire them.
INSERT INTO application_grants (item) VALUES ('SELECT, INSERT, UPDATE, DELETE ON api_idempotency');
