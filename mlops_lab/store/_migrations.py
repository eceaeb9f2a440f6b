"""Versioned migrations of the store's DuckDB schema.

Each migration is applied once, in its own transaction, and recorded in
``schema_migrations``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    """One step of the schema: its version, a short name and its SQL."""

    version: int
    name: str
    sql: str


_INITIAL = """
CREATE TABLE datasets (
    name            VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    content_hash    VARCHAR NOT NULL,
    n_rows          BIGINT,
    target          VARCHAR,
    schema          JSON,
    profile         JSON,
    prep            JSON,
    parents         JSON,
    reference       BLOB,
    PRIMARY KEY (name, version)
);
CREATE TABLE experiments (
    experiment_id   VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    dataset_name    VARCHAR,
    dataset_version VARCHAR,
    estimator       VARCHAR,
    metric          VARCHAR,
    mode            VARCHAR,
    search          VARCHAR,
    config          JSON,
    status          VARCHAR NOT NULL,
    finished_at     TIMESTAMP
);
CREATE TABLE trials (
    trial_id        VARCHAR PRIMARY KEY,
    experiment_id   VARCHAR NOT NULL,
    params          JSON,
    status          VARCHAR NOT NULL,
    metric          DOUBLE,
    iterations      INTEGER,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    duration_s      DOUBLE,
    error           VARCHAR
);
CREATE TABLE trial_results (
    trial_id        VARCHAR NOT NULL,
    iteration       INTEGER NOT NULL,
    time            TIMESTAMP NOT NULL,
    metrics         JSON,
    PRIMARY KEY (trial_id, iteration)
);
CREATE TABLE models (
    name            VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    flavor          VARCHAR,
    artifact        BLOB,
    signature       JSON,
    metrics         JSON,
    params          JSON,
    trial_id        VARCHAR,
    dataset_name    VARCHAR,
    dataset_version VARCHAR,
    reference       BLOB,
    background      BLOB,
    description     VARCHAR,
    PRIMARY KEY (name, version)
);
CREATE TABLE model_aliases (
    name            VARCHAR NOT NULL,
    alias           VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE endpoints (
    endpoint        VARCHAR PRIMARY KEY,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    status          VARCHAR NOT NULL,
    config          JSON
);
CREATE TABLE route_changes (
    change_id       VARCHAR PRIMARY KEY,
    endpoint        VARCHAR NOT NULL,
    time            TIMESTAMP NOT NULL,
    kind            VARCHAR NOT NULL,
    config          JSON,
    reason          VARCHAR
);
CREATE TABLE requests (
    request_id      VARCHAR PRIMARY KEY,
    time            TIMESTAMP NOT NULL,
    endpoint        VARCHAR NOT NULL,
    model           VARCHAR,
    model_version   INTEGER,
    arm             VARCHAR,
    propensity      DOUBLE,
    policy          VARCHAR,
    features        JSON,
    prediction      JSON,
    latency_ms      DOUBLE,
    status          SMALLINT NOT NULL,
    error           VARCHAR,
    shadow          JSON
);
CREATE TABLE feedback (
    feedback_id     VARCHAR PRIMARY KEY,
    request_id      VARCHAR NOT NULL,
    time            TIMESTAMP NOT NULL,
    truth           JSON,
    reward          DOUBLE,
    source          VARCHAR
);
CREATE TABLE monitor_results (
    result_id       VARCHAR PRIMARY KEY,
    endpoint        VARCHAR NOT NULL,
    monitor         VARCHAR NOT NULL,
    time            TIMESTAMP NOT NULL,
    window_start    TIMESTAMP,
    window_end      TIMESTAMP,
    metric          VARCHAR NOT NULL,
    value           DOUBLE,
    details         JSON
);
CREATE TABLE alerts (
    alert_id        VARCHAR PRIMARY KEY,
    endpoint        VARCHAR,
    time            TIMESTAMP NOT NULL,
    severity        VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    message         VARCHAR NOT NULL,
    details         JSON,
    resolved_at     TIMESTAMP
);
CREATE TABLE events (
    event_id        VARCHAR PRIMARY KEY,
    time            TIMESTAMP NOT NULL,
    kind            VARCHAR NOT NULL,
    subject         VARCHAR,
    details         JSON
);
"""

# A dataset's full data travels with its row (Arrow IPC bytes), so a trainer on any Ray
# node can load it by name through the store, never through a local file.
_DATASET_DATA = """
ALTER TABLE datasets ADD COLUMN data BLOB;
ALTER TABLE datasets ADD COLUMN description VARCHAR;
"""

# Each logged request names the routes that served it, so a bandit's feedback can be
# replayed for exactly the routes it learned under.
_REQUEST_ROUTES = """
ALTER TABLE requests ADD COLUMN route_id VARCHAR;
"""

# Rows a table refused as bad data (text it cannot hold, JSON it cannot read), kept with the
# reason instead of holding up the rows behind them. The key is a hash of the table and the
# row's text, so that a row set aside twice (a retried batch) is kept once.
_DEAD_LETTERS = """
CREATE TABLE dead_letters (
    letter_id       VARCHAR PRIMARY KEY,
    time            TIMESTAMP NOT NULL,
    table_name      VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    row_text        VARCHAR NOT NULL
);
"""

# Feedback names the endpoint and routes of the request it is about, so that a replica
# reads the new feedback on its routes from the feedback table alone (by time, which the
# rows follow), without joining the whole request log every second.
_FEEDBACK_ROUTES = """
ALTER TABLE feedback ADD COLUMN endpoint VARCHAR;
ALTER TABLE feedback ADD COLUMN route_id VARCHAR;
UPDATE feedback SET endpoint = r.endpoint, route_id = r.route_id
FROM requests r WHERE r.request_id = feedback.request_id;
"""

# The monitor reads what arrived since its last pass. Request time cannot say that (replicas
# flush a second apart, a restarted one replays its journal), so the store numbers request
# and feedback rows as they arrive: writes are serialised, so a reader sees every number up
# to the highest it sees. A monitor's windows are ranges of those numbers. Outlier scores
# and explanations are kept by request id; a monitor's state (watermarks, fitted detectors,
# online state) by endpoint and key.
_MONITORING = """
CREATE SEQUENCE requests_arrival START 1;
ALTER TABLE requests ADD COLUMN seq BIGINT DEFAULT nextval('requests_arrival');
CREATE SEQUENCE feedback_arrival START 1;
ALTER TABLE feedback ADD COLUMN seq BIGINT DEFAULT nextval('feedback_arrival');
ALTER TABLE monitor_results ADD COLUMN model VARCHAR;
ALTER TABLE monitor_results ADD COLUMN model_version INTEGER;
ALTER TABLE monitor_results ADD COLUMN window_id VARCHAR;
CREATE TABLE monitor_windows (
    window_id       VARCHAR PRIMARY KEY,
    endpoint        VARCHAR NOT NULL,
    first_seq       BIGINT NOT NULL,
    last_seq        BIGINT NOT NULL,
    window_start    TIMESTAMP NOT NULL,
    window_end      TIMESTAMP NOT NULL,
    rows            BIGINT NOT NULL,
    closed_at       TIMESTAMP NOT NULL,
    closed_by       VARCHAR NOT NULL
);
CREATE TABLE monitor_state (
    endpoint        VARCHAR NOT NULL,
    key             VARCHAR NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    state           JSON,
    data            BLOB,
    PRIMARY KEY (endpoint, key)
);
CREATE TABLE outlier_scores (
    request_id      VARCHAR PRIMARY KEY,
    endpoint        VARCHAR NOT NULL,
    time            TIMESTAMP NOT NULL,
    model           VARCHAR,
    model_version   INTEGER,
    detector        VARCHAR NOT NULL,
    score           DOUBLE,
    outlier         BOOLEAN
);
CREATE TABLE explanations (
    request_id      VARCHAR NOT NULL,
    method          VARCHAR NOT NULL,
    time            TIMESTAMP NOT NULL,
    endpoint        VARCHAR,
    model           VARCHAR,
    model_version   INTEGER,
    explanation     JSON,
    PRIMARY KEY (request_id, method)
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "lifecycle tables", _INITIAL),
    Migration(2, "dataset data", _DATASET_DATA),
    Migration(3, "request routes", _REQUEST_ROUTES),
    Migration(4, "dead letters", _DEAD_LETTERS),
    Migration(5, "feedback routes", _FEEDBACK_ROUTES),
    Migration(6, "monitoring", _MONITORING),
)

# Rows of these tables describe things whose state changes (a trial finishes, an alias
# moves), so a write with a known key replaces the row. Every other table is an
# append-only log whose rows never change: a write with a known key is ignored.
MUTABLE_TABLES = frozenset(
    {"experiments", "trials", "model_aliases", "endpoints", "alerts", "monitor_state"}
)
