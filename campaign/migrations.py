"""Versioned schema migrations: append a new `Migration`, never edit a released one.

The store applies every version above the one recorded in `schema_version`, each in its own
transaction, so a database created by an older build is upgraded in place on start-up. One list
serves both engines: column types are rewritten by the engine's `Database.ddl` (campaign.db), and a
migration carries a `postgres` variant only where the SQL itself differs (migration 3 moves data
with SQLite's date and JSON functions).
"""

from __future__ import annotations

from dataclasses import dataclass

from campaign.db import POSTGRES


@dataclass(frozen=True)
class Migration:
    version: int
    script: str
    postgres: str | None = None

    def script_for(self, dialect: str) -> str:
        return self.postgres if dialect == POSTGRES and self.postgres is not None else self.script

    def statements(self, dialect: str) -> list[str]:
        return [s for s in self.script_for(dialect).split(";\n") if s.strip()]


# Migration 3 moves promises and facts out of older tables: the same rows on both engines, but dates and
# JSON are read with each engine's own functions.
_M3_TABLES = """
CREATE TABLE borrower_facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id TEXT NOT NULL,
    phone TEXT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    campaign_id TEXT,
    call_id TEXT,
    until REAL,
    detail TEXT NOT NULL,
    created_at REAL NOT NULL,
    resolved_at REAL,
    resolution TEXT,
    resolved_by TEXT
);
CREATE INDEX borrower_facts_open ON borrower_facts (borrower_id, state, kind);
CREATE TABLE promises (
    id TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    call_id TEXT UNIQUE,
    promised_date TEXT NOT NULL,
    amount REAL NOT NULL,
    confirmed INTEGER NOT NULL,
    state TEXT NOT NULL,
    paid_amount REAL NOT NULL DEFAULT 0,
    segment TEXT,
    script_set TEXT,
    timezone TEXT,
    follow_up TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX promises_by_borrower ON promises (borrower_id, state);
CREATE INDEX promises_by_campaign ON promises (campaign_id, state);
CREATE TABLE promise_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    promise_id TEXT NOT NULL REFERENCES promises(id),
    at REAL NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE payments (
    reference TEXT PRIMARY KEY,
    borrower_id TEXT NOT NULL,
    amount REAL NOT NULL,
    paid_at REAL NOT NULL,
    source TEXT NOT NULL,
    imported_at REAL NOT NULL
);
CREATE INDEX payments_by_borrower ON payments (borrower_id, paid_at);
"""
# Promises from the outcomes of migration 1; the week-after date and the JSON read differ per engine.
_M3_DATA_TEMPLATE = """
INSERT INTO promises (id, borrower_id, campaign_id, call_id, promised_date, amount, confirmed, state, segment,
    script_set, timezone, created_at, updated_at)
SELECT 'ptp-' || o.call_id, o.borrower_id, o.campaign_id, o.call_id,
    COALESCE(substr(o.ptp_date, 1, 10),@WEEK_LATER@),
    COALESCE(o.ptp_amount, @AMOUNT_DUE@, 0), 1,
    CASE WHEN ROW_NUMBER() OVER (PARTITION BY o.borrower_id ORDER BY o.created_at DESC, o.call_id DESC) = 1
         THEN 'pending' ELSE 'superseded' END,
    b.segment, b.script_set, COALESCE(b.timezone, c.timezone), o.created_at, o.created_at
FROM outcomes o JOIN campaigns c ON c.id = o.campaign_id
LEFT JOIN borrowers b ON b.campaign_id = o.campaign_id AND b.borrower_id = o.borrower_id
WHERE o.disposition = 'promise_to_pay';
INSERT INTO promise_history (promise_id, at, state, detail)
SELECT id, created_at, state, '{"migrated_from": "outcomes"}' FROM promises;
INSERT INTO borrower_facts (borrower_id, kind, state, campaign_id, detail, created_at)
SELECT borrower_id, stop_reason, 'open', campaign_id, '{"migrated_from": "borrowers"}', imported_at
FROM borrowers WHERE status = 'review' AND stop_reason IN ('complaint', 'dispute');
INSERT INTO borrower_facts (borrower_id, phone, kind, state, campaign_id, detail, created_at)
SELECT borrower_id, phone, 'wrong_number', 'open', campaign_id, '{"migrated_from": "contacts"}', 0
FROM contacts WHERE valid = 0
"""
_M3_DATA = (_M3_DATA_TEMPLATE.replace("@WEEK_LATER@", " date(o.created_at, 'unixepoch', '+7 days')")
            .replace("@AMOUNT_DUE@", "json_extract(b.data, '$.amount_due')"))
_M3_DATA_POSTGRES = (
    _M3_DATA_TEMPLATE.replace("@WEEK_LATER@", "\n             to_char(to_timestamp(o.created_at) AT TIME ZONE 'UTC'"
                              " + interval '7 days', 'YYYY-MM-DD')")
    .replace("@AMOUNT_DUE@", "(b.data::jsonb ->> 'amount_due')::double precision"))

_RAW: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    strategy TEXT,
    timezone TEXT NOT NULL,
    trunk TEXT,
    caller_id TEXT NOT NULL DEFAULT '',
    max_concurrent_calls INTEGER NOT NULL,
    calls_per_second REAL NOT NULL,
    created_at REAL NOT NULL,
    start_at REAL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE borrowers (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    borrower_id TEXT NOT NULL,
    data TEXT NOT NULL,
    timezone TEXT,
    segment TEXT,
    strategy TEXT,
    script_set TEXT,
    priority REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    stop_reason TEXT,
    next_due_at REAL,
    next_reason TEXT NOT NULL DEFAULT 'scheduled',
    trunk_error_streak INTEGER NOT NULL DEFAULT 0,
    attempts_total INTEGER NOT NULL DEFAULT 0,
    imported_at REAL NOT NULL,
    PRIMARY KEY (campaign_id, borrower_id)
);
CREATE INDEX borrowers_due ON borrowers (campaign_id, status, next_due_at);
CREATE TABLE contacts (
    campaign_id TEXT NOT NULL,
    borrower_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    rank INTEGER NOT NULL,
    valid INTEGER NOT NULL DEFAULT 1,
    invalid_reason TEXT,
    PRIMARY KEY (campaign_id, borrower_id, phone),
    FOREIGN KEY (campaign_id, borrower_id) REFERENCES borrowers(campaign_id, borrower_id)
);
CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    borrower_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    trunk TEXT,
    reason TEXT NOT NULL,
    started_at REAL NOT NULL,
    state TEXT NOT NULL,
    completed_at REAL,
    disposition TEXT,
    sip_code INTEGER,
    call_id TEXT
);
CREATE INDEX attempts_by_borrower ON attempts (borrower_id, started_at);
CREATE INDEX attempts_by_phone ON attempts (phone, started_at);
CREATE INDEX attempts_by_campaign ON attempts (campaign_id, state);
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    campaign_id TEXT NOT NULL,
    borrower_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    disposition TEXT NOT NULL,
    outcome TEXT,
    sip_code INTEGER,
    invite_sent_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL,
    duration_s REAL NOT NULL DEFAULT 0,
    recording TEXT,
    record TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX calls_by_campaign ON calls (campaign_id, invite_sent_at);
CREATE TABLE turns (
    call_id TEXT NOT NULL REFERENCES calls(call_id),
    idx INTEGER NOT NULL,
    heard_text TEXT NOT NULL,
    intent TEXT,
    confidence REAL,
    node TEXT NOT NULL,
    prompt_text TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (call_id, idx)
);
CREATE TABLE outcomes (
    call_id TEXT PRIMARY KEY REFERENCES calls(call_id),
    campaign_id TEXT NOT NULL,
    borrower_id TEXT NOT NULL,
    disposition TEXT,
    ptp_date TEXT,
    ptp_amount REAL,
    callback_at TEXT,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE opt_outs (
    phone TEXT PRIMARY KEY,
    borrower_id TEXT,
    campaign_id TEXT,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    borrower_id TEXT NOT NULL,
    phone TEXT,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    campaign_id TEXT,
    detail TEXT NOT NULL
)
""",
    ),
    (
        2,
        """
CREATE INDEX borrowers_active_groups ON borrowers (campaign_id, status, timezone, strategy, borrower_id);
CREATE INDEX attempts_by_time ON attempts (started_at)
""",
    ),
    (3, _M3_TABLES + _M3_DATA),
    (
        4,
        """
CREATE TABLE allocations (
    borrower_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    queue TEXT,
    step TEXT,
    mediation_kind TEXT,
    strategy TEXT,
    rule TEXT NOT NULL,
    decided_at REAL NOT NULL
);
CREATE TABLE allocation_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id TEXT NOT NULL,
    at REAL NOT NULL,
    channel TEXT NOT NULL,
    previous_channel TEXT,
    queue TEXT,
    step TEXT,
    rule TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX allocation_moves_by_time ON allocation_moves (at);
CREATE INDEX allocation_moves_by_borrower ON allocation_moves (borrower_id, at);
CREATE TABLE legal_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower_id TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT,
    day TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX legal_steps_by_borrower ON legal_steps (borrower_id, id)
""",
    ),
    (
        5,
        """
ALTER TABLE attempts ADD COLUMN node_id TEXT;
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE INDEX attempts_pending_by_node ON attempts (state, node_id)
""",
    ),
    (
        6,
        """
ALTER TABLE attempts ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound';
CREATE INDEX contacts_by_phone ON contacts (phone)
""",
    ),
]

MIGRATIONS: list[Migration] = [
    Migration(version, script, postgres=_M3_TABLES + _M3_DATA_POSTGRES if version == 3 else None)
    for version, script in _RAW
]
