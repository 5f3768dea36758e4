"""Retention: what state.db keeps forever, what it keeps for a while, and compaction (delete, then VACUUM).

Kept forever: every table but `papers`/`predictions`/`summaries` (the PR ledger, proposals, feedback, digests,
runs, the watermark and other state), and every paper the bot decided or learned something about:
- *ledger*: a paper with a proposal row (selected, proposed, accepted, moved, rejected, ignored, unignored),
  a feedback row (labels from reviews and comment commands) or a summary;
- *unclassified*: a paper without any prediction yet (the next classify must see it).
Kept for a while (the bulk of the stream):
- *relevant*: for `relevant_days` (42), a paper any model found relevant or that scores at least the configured
  `model.threshold` override: the candidates still waiting for a slot, and the digest's papers for their week and
  the four weeks of rising-topic history after it (those proposed stay for good, as *ledger*);
- *window*: papers listed in the last `window_days` days of the stream (`arxiv.overlap_days` + 1): the days the
  next poll fetches again (it starts `overlap_days` before its watermark), so they are not re-inserted as new;
- *sample*: the newest `sample_size` papers of the configured categories (`stream_sample`), the unlabelled
  papers retraining uses.
"The last days of the stream" count back from the newest listing day stored (never later than today), so an
import of an old corpus keeps its own last days. Predictions of dropped papers go, and so do older models'
predictions that said "not relevant"; predictions that say "not relevant" lose their `why` words and section list
(only relevant ones are ever shown); the FTS index is optimised and the file VACUUMed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lfmwatch.store.db import Store

DEFAULT_SAMPLE_SIZE = 5000
_DAY = "COALESCE(NULLIF(p.listed, ''), substr(p.published, 1, 10), substr(p.first_seen, 1, 10))"
REASONS = ("ledger", "relevant", "unclassified", "window", "sample")


@dataclass(frozen=True)
class RetentionPolicy:
    """How much of the stream compaction keeps (see the module docstring)."""

    window_days: int = 3
    relevant_days: int = 42  # the digest's week, its 4 weeks of rising-topic history, and a week of slack
    sample_size: int = DEFAULT_SAMPLE_SIZE
    categories: tuple[str, ...] = ()
    keep_score: float | None = None  # model.threshold override: papers scoring this much are candidates too

    @classmethod
    def from_config(cls, config: Any) -> RetentionPolicy:
        """The policy that follows from the configuration (poll overlap, categories, threshold override)."""
        override = config.model.threshold
        return cls(
            window_days=int(config.arxiv.overlap_days) + 1,
            sample_size=int(getattr(config.model, "stream_sample", DEFAULT_SAMPLE_SIZE)),
            categories=tuple(config.arxiv.categories),
            keep_score=float(override) if override is not None and override >= 0 else None,
        )


@dataclass
class CompactReport:
    """What a compaction kept and dropped, and the file size before and after."""

    dry_run: bool
    reference_day: str | None
    papers_before: int
    papers_dropped: int
    predictions_dropped: int
    summaries_dropped: int
    kept_by: dict[str, int] = field(default_factory=dict)  # papers per keep reason (a paper may have several)
    bytes_before: int = 0
    bytes_after: int = 0

    @property
    def papers_after(self) -> int:
        """Papers left (or that would be left)."""
        return self.papers_before - self.papers_dropped


def store_bytes(store: Store) -> int:
    """Size of state.db on disk, write-ahead log included."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(f"{store.path}{suffix}")
        except OSError:
            pass
    return total


def reference_day(store: Store, today: date | None = None) -> str | None:
    """The stream's newest listing day, never later than today: retention counts its days back from here."""
    today_s = (today or datetime.now(UTC).date()).isoformat()
    row = store.db.conn.execute(f"SELECT MAX({_DAY}) FROM papers p WHERE {_DAY} <= ?", [today_s]).fetchone()
    return row[0] if row and row[0] else None


def _category_filter(categories: Sequence[str]) -> tuple[str, list[Any]]:
    if not categories:
        return "1", []
    marks = ", ".join("?" for _ in categories)
    return f"EXISTS (SELECT 1 FROM json_each(p.categories) c WHERE c.value IN ({marks}))", list(categories)


def _sample_sql(policy: RetentionPolicy) -> tuple[str, list[Any]]:
    cond, args = _category_filter(policy.categories)
    return (f"SELECT p.id FROM papers p WHERE json_valid(p.categories) AND {cond} "
            f"ORDER BY {_DAY} DESC, p.id DESC LIMIT ?", [*args, max(0, policy.sample_size)])


def stream_sample(store: Store, size: int = DEFAULT_SAMPLE_SIZE, categories: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The recent sample of the stream retraining uses as unlabelled papers: the newest `size` papers (by listing
    day, then id) in any of `categories` (all when empty). Compaction keeps exactly these papers."""
    sql, args = _sample_sql(RetentionPolicy(sample_size=size, categories=tuple(categories)))
    ids = [r[0] for r in store.db.conn.execute(sql, args)]
    if not ids:
        return []
    from lfmwatch.store.papers import get_papers

    found = get_papers(store, ids)
    return [found[i] for i in ids if i in found]


def _reason_sql(policy: RetentionPolicy, ref: str | None) -> dict[str, tuple[str, list[Any]]]:
    score = ("" if policy.keep_score is None else " OR r.score >= ?")
    score_args = [] if policy.keep_score is None else [policy.keep_score]
    first_day = ((date.fromisoformat(ref) - timedelta(days=policy.window_days - 1)).isoformat() if ref else "9999")
    first_relevant = ((date.fromisoformat(ref) - timedelta(days=policy.relevant_days - 1)).isoformat() if ref
                      else "9999")
    return {
        "ledger": ("SELECT paper_id FROM proposals UNION SELECT paper_id FROM feedback "
                   "UNION SELECT paper_id FROM summaries", []),
        "relevant": (f"SELECT DISTINCT r.paper_id FROM predictions r JOIN papers p ON p.id = r.paper_id "
                     f"WHERE (r.relevant = 1{score}) AND {_DAY} >= ?", [*score_args, first_relevant]),
        "unclassified": ("SELECT p.id FROM papers p WHERE NOT EXISTS "
                         "(SELECT 1 FROM predictions r WHERE r.paper_id = p.id)", []),
        "window": (f"SELECT p.id FROM papers p WHERE {_DAY} >= ?", [first_day]),
        "sample": _sample_sql(policy),
    }


def _fill_keep(store: Store, policy: RetentionPolicy, ref: str | None) -> dict[str, int]:
    """(Re)build TEMP table retention_keep with the ids to keep; returns papers kept per reason."""
    conn = store.db.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS retention_keep (id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("DELETE FROM temp.retention_keep")
    kept_by: dict[str, int] = {}
    for reason, (sql, args) in _reason_sql(policy, ref).items():
        (n,) = conn.execute(f"SELECT COUNT(*) FROM papers WHERE id IN ({sql})", args).fetchone()
        kept_by[reason] = int(n)
        conn.execute(f"INSERT OR IGNORE INTO temp.retention_keep {sql}", args)
    return kept_by


def retention_summary(store: Store, policy: RetentionPolicy, today: date | None = None) -> dict[str, Any]:
    """For `lfmwatch status`: the store's size, the policy, and how many papers each rule keeps now."""
    ref = reference_day(store, today)
    kept_by = _fill_keep(store, policy, ref)
    conn = store.db.conn
    (papers,) = conn.execute("SELECT COUNT(*) FROM papers").fetchone()
    (keep,) = conn.execute("SELECT COUNT(*) FROM papers WHERE id IN (SELECT id FROM temp.retention_keep)").fetchone()
    conn.execute("DROP TABLE IF EXISTS temp.retention_keep")
    return {
        "bytes": store_bytes(store), "papers": int(papers), "kept": int(keep), "droppable": int(papers) - int(keep),
        "kept_by": kept_by, "reference_day": ref, "window_days": policy.window_days,
        "sample_size": policy.sample_size,
    }


def compact(store: Store, policy: RetentionPolicy, *, dry_run: bool = False, today: date | None = None,
            vacuum: bool = True) -> CompactReport:
    """Apply the retention policy: drop the papers no rule keeps, their predictions and summaries, older models'
    negative predictions; then optimise the FTS index and VACUUM. With dry_run, only count."""
    conn = store.db.conn
    before = store_bytes(store)
    ref = reference_day(store, today)
    kept_by = _fill_keep(store, policy, ref)
    drop = "SELECT id FROM papers WHERE id NOT IN (SELECT id FROM temp.retention_keep)"
    (papers_before,) = conn.execute("SELECT COUNT(*) FROM papers").fetchone()
    (n_papers,) = conn.execute(f"SELECT COUNT(*) FROM ({drop})").fetchone()
    latest = conn.execute("SELECT model_version FROM predictions GROUP BY model_version "
                          "ORDER BY MAX(created) DESC, model_version DESC LIMIT 1").fetchone()
    stale_args: list[Any] = [latest[0] if latest else ""]
    stale = "model_version != ? AND relevant = 0"
    if policy.keep_score is not None:
        stale += " AND (score IS NULL OR score < ?)"
        stale_args.append(policy.keep_score)
    pred_where = f"paper_id IN ({drop}) OR ({stale})"
    # Reasons and section lists are only read for relevant predictions (candidates, digest): others lose them.
    trim = "relevant = 0 AND (why IS NOT NULL OR sections IS NOT NULL)" + (
        "" if policy.keep_score is None else " AND (score IS NULL OR score < ?)")
    trim_args = [] if policy.keep_score is None else [policy.keep_score]
    (n_preds,) = conn.execute(f"SELECT COUNT(*) FROM predictions WHERE {pred_where}", stale_args).fetchone()
    (n_sums,) = conn.execute(f"SELECT COUNT(*) FROM summaries WHERE paper_id IN ({drop})").fetchone()
    report = CompactReport(dry_run, ref, int(papers_before), int(n_papers), int(n_preds), int(n_sums), kept_by,
                           before, before)
    if not dry_run:
        conn.execute(f"UPDATE predictions SET why = NULL, sections = NULL WHERE {trim}", trim_args)
    if dry_run or not (n_papers or n_preds or n_sums):
        conn.execute("DROP TABLE IF EXISTS temp.retention_keep")
        if not dry_run and vacuum:
            report.bytes_after = _vacuum(store)
        return report

    def delete() -> None:
        with store.db.atomic():
            conn.execute(f"DELETE FROM predictions WHERE {pred_where}", stale_args)
            conn.execute(f"DELETE FROM summaries WHERE paper_id IN ({drop})")
            conn.execute(f"DELETE FROM papers WHERE id IN ({drop})")

    if n_papers > (papers_before - n_papers) // 2:
        with store.defer_fts():  # most rows go: rebuilding the index from the rest beats per-row FTS deletes
            delete()
    else:
        delete()
    conn.execute("DROP TABLE IF EXISTS temp.retention_keep")
    report.bytes_after = _vacuum(store) if vacuum else store_bytes(store)
    return report


def _vacuum(store: Store) -> int:
    """Merge the FTS index's segments, fold the WAL in and VACUUM; returns the new size in bytes."""
    conn = store.db.conn
    if store.db.table("papers").detect_fts():
        conn.execute("INSERT INTO papers_fts(papers_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store_bytes(store)
