-- The global forecast model, one row per retrain: the newest is the one evaluations use.
CREATE TABLE forecast_models (
  model_version  text PRIMARY KEY,
  trained_at     timestamptz NOT NULL,
  keys           integer NOT NULL,
  training_rows  integer NOT NULL,
  train_ms       integer NOT NULL,
  model          jsonb NOT NULL
);
CREATE INDEX forecast_models_newest ON forecast_models (trained_at DESC);

-- Every risk evaluation a lifecycle workflow made, with what went into it, so that an operator can see why.
CREATE TABLE risk_evaluations (
  evaluation_id          text PRIMARY KEY,
  key                    text NOT NULL REFERENCES keys (name),
  version                integer NOT NULL,
  evaluated_at           timestamptz NOT NULL,
  score                  double precision NOT NULL,
  threshold              double precision NOT NULL,
  rotate                 boolean NOT NULL,
  trigger                text CHECK (trigger IN ('risk', 'capacity', 'age')),
  held_trigger           text CHECK (held_trigger IN ('risk', 'capacity', 'age')),
  predicted_trigger      text CHECK (predicted_trigger IN ('risk', 'capacity', 'age')),
  reason                 text NOT NULL,
  predicted_rotation_at  timestamptz NOT NULL,
  next_evaluation_at     timestamptz NOT NULL,
  capacity_exhausted_at  timestamptz,
  used_count             bigint NOT NULL,
  components             jsonb NOT NULL,
  weights                jsonb NOT NULL,
  model_version          text,
  forecast_method        text NOT NULL,
  forecast               jsonb NOT NULL,
  anomaly                jsonb NOT NULL
);
CREATE INDEX risk_evaluations_key_time ON risk_evaluations (key, evaluated_at DESC);
