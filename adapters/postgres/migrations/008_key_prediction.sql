-- The prediction the key map shows for each key, written with each risk evaluation that changes it (rounded, so that
-- an evaluation that changes nothing an operator would read changes nothing in the map). Being a column of keys, a
-- change bumps the key map's epoch like any other.
ALTER TABLE keys ADD COLUMN prediction jsonb;
CREATE TRIGGER keymap_keys_prediction_changed AFTER UPDATE OF prediction ON keys FOR EACH ROW
  WHEN (OLD.prediction IS DISTINCT FROM NEW.prediction)
  EXECUTE FUNCTION keymap_bump_epoch();
