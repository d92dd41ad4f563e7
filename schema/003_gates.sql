-- 003_gates: an item that becomes done releases the items that depend on it, whichever path made
-- it done (a verdict, a merge seen by webhook or by the reconcile sweep), in the same transaction.

CREATE FUNCTION damascus_resolve_dependents() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  me_target TEXT;
BEGIN
  SELECT lower(p.owner || '/' || p.name || '#' || NEW.issue_number) INTO me_target FROM projects p WHERE p.id = NEW.project_id;
  WITH closed AS (
    UPDATE coordination_gates g SET is_open = false, resolved_at = now(), resolved_by = 'item ' || NEW.id || ' done'
    WHERE g.is_open AND g.kind = 'depends_on' AND (g.depends_on_item_id = NEW.id OR g.target = me_target)
    RETURNING g.item_id
  ), counts AS (
    SELECT item_id, count(*)::int AS n FROM closed GROUP BY item_id
  ), upd AS (
    UPDATE work_items w SET gate_count = GREATEST(w.gate_count - c.n, 0)
    FROM counts c WHERE w.id = c.item_id
    RETURNING w.id, w.gate_count
  )
  INSERT INTO events_outbox (item_id, type, payload)
  SELECT id, 'gate.resolved', jsonb_build_object('dependency', NEW.id, 'openGates', gate_count) FROM upd;
  RETURN NULL;
END;
$$;

CREATE TRIGGER work_items_resolve_dependents AFTER UPDATE OF state ON work_items
  FOR EACH ROW WHEN (NEW.state = 'done' AND OLD.state IS DISTINCT FROM 'done')
  EXECUTE FUNCTION damascus_resolve_dependents();

CREATE INDEX coordination_gates_target ON coordination_gates (target) WHERE is_open;
