-- 001_core: the work-item store. Written for PostgreSQL 16; also runs on 15.
-- Applied once by `damascus init` inside one transaction (see src/db/migrate.ts).

CREATE TYPE work_state AS ENUM ('spec', 'build', 'review', 'awaiting_human', 'blocked', 'done', 'cancelled');
CREATE TYPE verdict AS ENUM ('pass', 'fail', 'spec_wrong', 'needs_human', 'error');
CREATE TYPE human_issue_status AS ENUM ('open', 'answered', 'cancelled');
CREATE TYPE gate_kind AS ENUM ('depends_on', 'spec_approval');

CREATE FUNCTION damascus_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE projects (
  id              BIGSERIAL PRIMARY KEY,
  owner           TEXT NOT NULL,
  name            TEXT NOT NULL,
  gitea_repo_id   BIGINT UNIQUE,
  default_branch  TEXT NOT NULL DEFAULT 'main',
  html_url        TEXT,
  clone_url       TEXT,
  config          JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (owner, name)
);

CREATE TABLE work_items (
  id              BIGSERIAL PRIMARY KEY,
  project_id      BIGINT NOT NULL REFERENCES projects (id),
  issue_number    INTEGER NOT NULL,
  title           TEXT NOT NULL DEFAULT '',
  state           work_state NOT NULL DEFAULT 'spec',
  -- The active phase to go back to from awaiting_human, blocked or cancelled.
  resume_phase    work_state,
  -- review → build → spec: the claim's first sort key (src/domain/states.ts claimRank).
  claim_rank      SMALLINT GENERATED ALWAYS AS (CASE state WHEN 'review' THEN 0 WHEN 'build' THEN 1 ELSE 2 END) STORED,
  priority        INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  budget_cycles   INTEGER NOT NULL DEFAULT 3,
  error_count     INTEGER NOT NULL DEFAULT 0,
  max_errors      INTEGER NOT NULL DEFAULT 5,
  -- NULL: runnable now. A time: waiting (error backoff, CI) until then.
  run_after       TIMESTAMPTZ,
  gate_count      INTEGER NOT NULL DEFAULT 0,
  lease_owner     TEXT,
  lease_token     UUID,
  lease_until     TIMESTAMPTZ,
  leased_at       TIMESTAMPTZ,
  spec            TEXT,
  spec_version    INTEGER NOT NULL DEFAULT 0,
  branch          TEXT,
  pr_number       INTEGER,
  head_sha        TEXT,
  cost_usd        NUMERIC(12, 6) NOT NULL DEFAULT 0,
  max_cost_usd    NUMERIC(12, 6),
  details         JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (project_id, issue_number),
  CHECK (attempts >= 0 AND error_count >= 0 AND budget_cycles > 0 AND max_errors > 0 AND gate_count >= 0),
  CHECK ((lease_owner IS NULL) = (lease_token IS NULL) AND (lease_token IS NULL) = (lease_until IS NULL)),
  CHECK (lease_token IS NULL OR state IN ('spec', 'build', 'review'))
);

-- The claim's three small paths (see src/db/ops/claimNextItem.ts). Leased, waiting, gated and
-- finished items are outside the first index, so neither thousands of items waiting on CI nor a
-- full set of live leases lengthens the scan.
CREATE INDEX work_items_ready ON work_items (claim_rank, priority DESC, id)
  WHERE state IN ('spec', 'build', 'review') AND lease_token IS NULL AND run_after IS NULL AND gate_count = 0;
CREATE INDEX work_items_waiting ON work_items (run_after)
  WHERE state IN ('spec', 'build', 'review') AND lease_token IS NULL AND run_after IS NOT NULL AND gate_count = 0;
CREATE INDEX work_items_leased ON work_items (lease_until) WHERE lease_token IS NOT NULL;

CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects
  FOR EACH ROW EXECUTE FUNCTION damascus_touch_updated_at();
CREATE TRIGGER work_items_updated_at BEFORE UPDATE ON work_items
  FOR EACH ROW EXECUTE FUNCTION damascus_touch_updated_at();

-- One row per concurrency slot. A claim takes a free slot (SKIP LOCKED) together with the item,
-- so the global cap holds across any number of processes without serialising the claims.
-- Only the primary key is indexed and the pages are kept sparse, so every slot update is a
-- HOT update (no index writes): the slot rows are the hottest rows in the database.
CREATE TABLE lease_slots (
  slot         INTEGER PRIMARY KEY CHECK (slot >= 0),
  item_id      BIGINT,
  lease_owner  TEXT,
  lease_token  UUID,
  lease_until  TIMESTAMPTZ
) WITH (fillfactor = 20);

CREATE TABLE verdicts (
  id           BIGSERIAL PRIMARY KEY,
  item_id      BIGINT NOT NULL REFERENCES work_items (id),
  phase        work_state NOT NULL,
  verdict      verdict NOT NULL,
  from_state   work_state NOT NULL,
  to_state     work_state NOT NULL,
  attempt      INTEGER NOT NULL,
  reason       TEXT,
  details      JSONB NOT NULL DEFAULT '{}'::jsonb,
  worker       TEXT,
  lease_token  UUID,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX verdicts_item ON verdicts (item_id, id);

CREATE TABLE coordination_gates (
  id                  BIGSERIAL PRIMARY KEY,
  item_id             BIGINT NOT NULL REFERENCES work_items (id),
  kind                gate_kind NOT NULL,
  depends_on_item_id  BIGINT REFERENCES work_items (id),
  target              TEXT,
  is_open             BOOLEAN NOT NULL DEFAULT true,
  details             JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  resolved_at         TIMESTAMPTZ,
  resolved_by         TEXT
);
CREATE INDEX coordination_gates_open ON coordination_gates (item_id) WHERE is_open;
CREATE INDEX coordination_gates_dependency ON coordination_gates (depends_on_item_id) WHERE is_open;
CREATE TRIGGER coordination_gates_updated_at BEFORE UPDATE ON coordination_gates
  FOR EACH ROW EXECUTE FUNCTION damascus_touch_updated_at();

CREATE TABLE human_issues (
  id            BIGSERIAL PRIMARY KEY,
  tag           TEXT GENERATED ALWAYS AS ('Q-' || id::text) STORED,
  item_id       BIGINT NOT NULL REFERENCES work_items (id),
  kind          TEXT NOT NULL DEFAULT 'question',
  question      TEXT NOT NULL,
  status        human_issue_status NOT NULL DEFAULT 'open',
  resume_phase  work_state,
  answer        TEXT,
  answered_by   TEXT,
  comment_id    BIGINT,
  details       JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  answered_at   TIMESTAMPTZ
);
CREATE INDEX human_issues_open ON human_issues (item_id, id) WHERE status = 'open';
CREATE TRIGGER human_issues_updated_at BEFORE UPDATE ON human_issues
  FOR EACH ROW EXECUTE FUNCTION damascus_touch_updated_at();

CREATE TABLE cost_ledger (
  id             BIGSERIAL PRIMARY KEY,
  item_id        BIGINT NOT NULL REFERENCES work_items (id),
  phase          work_state NOT NULL,
  kind           TEXT NOT NULL,
  model          TEXT,
  input_tokens   BIGINT NOT NULL DEFAULT 0,
  output_tokens  BIGINT NOT NULL DEFAULT 0,
  usd            NUMERIC(12, 6) NOT NULL DEFAULT 0,
  details        JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cost_ledger_item ON cost_ledger (item_id);

CREATE TABLE events_outbox (
  id               BIGSERIAL PRIMARY KEY,
  item_id          BIGINT REFERENCES work_items (id),
  type             TEXT NOT NULL,
  payload          JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_error       TEXT,
  delivered_at     TIMESTAMPTZ,
  parked_at        TIMESTAMPTZ
);
CREATE INDEX events_outbox_pending ON events_outbox (next_attempt_at, id)
  WHERE delivered_at IS NULL AND parked_at IS NULL;

CREATE TABLE webhook_deliveries (
  id           BIGSERIAL PRIMARY KEY,
  delivery_id  TEXT NOT NULL UNIQUE,
  event        TEXT NOT NULL,
  event_type   TEXT,
  action       TEXT,
  result       TEXT NOT NULL,
  item_id      BIGINT REFERENCES work_items (id),
  details      JSONB NOT NULL DEFAULT '{}'::jsonb,
  received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE ci_results (
  id             BIGSERIAL PRIMARY KEY,
  item_id        BIGINT NOT NULL REFERENCES work_items (id),
  head_sha       TEXT NOT NULL,
  run_id         TEXT NOT NULL,
  passed         BOOLEAN NOT NULL,
  exit_code      INTEGER,
  duration_ms    BIGINT,
  timed_out      BOOLEAN NOT NULL DEFAULT false,
  output_tail    TEXT,
  failing_tests  JSONB NOT NULL DEFAULT '[]'::jsonb,
  details        JSONB NOT NULL DEFAULT '{}'::jsonb,
  superseded     BOOLEAN NOT NULL DEFAULT false,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (item_id, run_id)
);
CREATE INDEX ci_results_item_head ON ci_results (item_id, head_sha);
