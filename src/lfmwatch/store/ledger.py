"""The bot's ledger in the store: candidates, proposal states, review feedback, acceptance per section.

Rules (documented here because propose, sync, status and train all rely on them):
- A feedback row is unique per (source, paper_id): `pr#N` for the outcome of pull request N, `comment#ID` for a
  reviewer's command, `cli@TIMESTAMP` for `lfmwatch ignore/unignore`. Recording the same outcome twice is a no-op.
- A paper's *effective* label is its newest row (by id) after its newest `unignored` row; `unignored` itself
  clears the label. `feedback_labels` returns effective labels, `blocked_ids` blocks `rejected`/`ignored`/`closed` ones.
- A paper is blocked from being proposed while its proposal is proposed/accepted/moved/rejected/ignored, or its
  effective label is rejected/ignored. `selected` (intent recorded, not yet on GitHub) and `unignored` are not
  blocked, which is what makes an interrupted propose resumable and an un-ignore effective.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from lfmwatch.records import utcnow
from lfmwatch.store.db import Store
from lfmwatch.store.predictions import newest_model_version

if TYPE_CHECKING:
    from lfmwatch.adapters.github import PullInfo
    from lfmwatch.awesome import Entry
    from lfmwatch.config import Config
    from lfmwatch.records import Candidate

BLOCKING_STATUSES = ("proposed", "accepted", "moved", "rejected", "ignored")
NEGATIVE_LABELS = ("rejected", "ignored", "closed")  # closed: in a pull request closed as a whole


def record_feedback(
    store: Store,
    paper_id: str,
    label: str,
    source: str,
    *,
    section: str | None = None,
    proposed_section: str | None = None,
) -> bool:
    """Insert one feedback row unless (source, paper_id) already has one; True when inserted."""
    before = store.db.execute(
        "SELECT 1 FROM feedback WHERE source = ? AND paper_id = ?", [source, paper_id]
    ).fetchone()
    if before:
        return False
    store.db.table("feedback").insert(
        {"paper_id": paper_id, "label": label, "section": section, "proposed_section": proposed_section,
         "source": source, "created": utcnow()},
        ignore=True,
    )
    return True


def set_proposal_status(store: Store, paper_id: str, status: str, **fields: Any) -> None:
    """Set a proposal's status (creating a bare row when the paper was never proposed, e.g. `ignore ID`)."""
    now = utcnow()
    row = {"paper_id": paper_id, "status": status, **fields}
    if status in ("accepted", "moved", "rejected", "ignored", "unignored"):
        row.setdefault("decided_at", now)
    if store.db.execute("SELECT 1 FROM proposals WHERE paper_id = ?", [paper_id]).fetchone():
        store.db.table("proposals").update(paper_id, row)
    else:
        store.db.table("proposals").insert(row)


def effective_labels(store: Store) -> dict[str, dict[str, Any]]:
    """paper_id -> its effective feedback row (see the module rules); papers without a label are absent."""
    out: dict[str, dict[str, Any]] = {}
    for row in store.db.query("SELECT * FROM feedback ORDER BY id"):
        if row["label"] == "unignored":
            out.pop(row["paper_id"], None)
        else:
            out[row["paper_id"]] = row
    return out


def blocked_ids(store: Store) -> set[str]:
    """Papers that must not be proposed (already proposed or decided, or rejected/ignored by a reviewer)."""
    marks = ", ".join("?" for _ in BLOCKING_STATUSES)
    ids = {r[0] for r in store.db.execute(f"SELECT paper_id FROM proposals WHERE status IN ({marks})",
                                          list(BLOCKING_STATUSES)).fetchall()}
    ids |= {pid for pid, row in effective_labels(store).items() if row["label"] in NEGATIVE_LABELS}
    return ids


def ignore_paper(store: Store, paper_id: str, *, source: str | None = None) -> None:
    """Never propose this paper again (until `unignore_paper`)."""
    with store.db.atomic():
        record_feedback(store, paper_id, "ignored", source or f"cli@{_stamp()}")
        set_proposal_status(store, paper_id, "ignored")


def unignore_paper(store: Store, paper_id: str) -> bool:
    """Allow a rejected/ignored paper to be proposed again; False when it was not blocked by a review."""
    label = effective_labels(store).get(paper_id)
    row = store.db.execute("SELECT status FROM proposals WHERE paper_id = ?", [paper_id]).fetchone()
    if (label is None or label["label"] not in NEGATIVE_LABELS) and (row is None or row[0] not in NEGATIVE_LABELS):
        return False
    with store.db.atomic():
        record_feedback(store, paper_id, "unignored", f"cli@{_stamp()}")
        if row is not None:
            # pr_number cleared: the paper is free to join the next open pull request.
            set_proposal_status(store, paper_id, "unignored", pr_number=None)
    return True


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%dT%H%M%S.%f")


def feedback_labels(store: Store) -> list[dict[str, Any]]:
    """Training labels from reviews: id, section (where accepted, else None) and label, one per paper."""
    out = []
    for pid, row in sorted(effective_labels(store).items()):
        positive = row["label"] in ("accepted", "moved")
        out.append({"id": pid, "section": row["section"] if positive else None, "label": row["label"],
                    "proposed_section": row["proposed_section"], "source": row["source"]})
    return out


def acceptance_by_section(store: Store, since: str | None = None) -> list[dict[str, Any]]:
    """Per proposed section: proposed, accepted, moved (kept in another section), rejected, pending and rate.

    rate = (accepted + moved) / decided, the share of decided papers the reviewers kept in the list
    (None while nothing is decided); `since` (ISO date) limits to papers proposed from then on.
    """
    # Reviewers' own lines (status `reviewer`) are not the bot's proposals: not in the rate.
    where, args = "(pr_number IS NOT NULL OR status IN ('accepted', 'moved', 'rejected')) AND status != 'reviewer'", []
    if since:
        where = f"({where}) AND proposed_at >= ?"
        args.append(since)
    rows = store.db.execute(
        f"SELECT section, status, COUNT(*) FROM proposals WHERE {where} GROUP BY section, status", args
    ).fetchall()
    table: dict[str, dict[str, Any]] = {}
    for section, status, n in rows:
        t = table.setdefault(section or "(none)", {"section": section or "(none)", "proposed": 0, "accepted": 0,
                                                   "moved": 0, "rejected": 0, "ignored": 0, "pending": 0})
        t["proposed"] += n
        key = status if status in ("accepted", "moved", "rejected", "ignored") else "pending"
        t[key] += n
    for t in table.values():
        decided = t["accepted"] + t["moved"] + t["rejected"] + t["ignored"]
        t["rate"] = round((t["accepted"] + t["moved"]) / decided, 3) if decided else None
    return sorted(table.values(), key=lambda t: (-t["proposed"], t["section"]))


# --- candidates and proposals (used by propose) ---------------------------------------------------------


def load_candidates(store: Store, config: Config, model_version: str | None = None) -> list[Candidate]:
    """Relevant predictions of `model_version` (default: the newest predictions' model), at the model's
    threshold or model.threshold when set, merged into papers."""
    version = model_version or newest_model_version(store)
    if version is None:
        return []
    override = config.model.threshold if config.model.threshold >= 0 else None
    cond = "pr.score >= ?" if override is not None else "pr.relevant = 1"
    args: list[Any] = [version] + ([override] if override is not None else [])
    rows = store.db.query(
        "SELECT p.*, pr.model_version, pr.relevant, pr.score, pr.section, pr.section_score, pr.sections, pr.why "
        f"FROM predictions pr JOIN papers p ON p.id = pr.paper_id WHERE pr.model_version = ? AND {cond}",
        args,
    )
    out: list[Candidate] = []
    for r in rows:
        for key in ("authors", "categories", "sections", "why"):
            if isinstance(r.get(key), str):
                try:
                    r[key] = json.loads(r[key])
                except ValueError:
                    pass
        r["relevant"] = 1
        out.append(cast("Candidate", r))
    return out


def paper_info(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Title, score, why and summary for the PR body, from proposals, papers and summaries."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    info: dict[str, dict[str, Any]] = {i: {"id": i} for i in ids}
    for r in store.db.query(f"SELECT id, title FROM papers WHERE id IN ({marks})", list(ids)):
        info[r["id"]]["title"] = r["title"]
    for r in store.db.query(f"SELECT paper_id, section, score, why FROM proposals WHERE paper_id IN ({marks})",
                            list(ids)):
        info[r["paper_id"]].update(score=r["score"], why=r["why"], proposed_section=r["section"])
    if "summaries" in store.db.table_names():
        for r in store.db.query(f"SELECT paper_id, summary FROM summaries WHERE status = 'ok' AND paper_id IN "
                                f"({marks}) ORDER BY created", list(ids)):
            info[r["paper_id"]]["summary"] = r["summary"]
    return info


def proposed_on(store: Store, day: str, on_branch: set[str] | frozenset[str] = frozenset()) -> int:
    """Papers that reached GitHub on `day` (YYYY-MM-DD): what the daily cap counts.

    A `selected` row is an intent that may never have reached GitHub (a run killed before its commit, a refused
    write): it counts only when the paper is on the bot branch already (`on_branch`), so a rerun the same day
    finishes the job instead of finding the day's cap spent.
    """
    reached = store.db.execute(
        "SELECT paper_id FROM proposals WHERE status NOT IN ('selected', 'unignored') "
        "AND substr(COALESCE(proposed_at, selected_at), 1, 10) = ?", [day]).fetchall()
    pending = store.db.execute(
        "SELECT paper_id FROM proposals WHERE status = 'selected' AND substr(selected_at, 1, 10) = ?",
        [day]).fetchall()
    return len({r[0] for r in reached} | ({r[0] for r in pending} & set(on_branch)))


def record_intent(store: Store, chosen: Sequence[dict[str, Any]], run_id: int | None) -> None:
    """Proposal rows with status `selected` (not blocking) before anything is written to GitHub."""
    now = utcnow()
    with store.db.atomic():
        for p in chosen:
            row = store.db.execute("SELECT status FROM proposals WHERE paper_id = ?", [p["id"]]).fetchone()
            if row is not None and row[0] not in ("selected", "unignored", "unfiled"):
                continue
            why = p.get("why")
            store.db.table("proposals").upsert(
                {"paper_id": p["id"], "section": p["section"], "score": p.get("score"),
                 "why": why if isinstance(why, str) or why is None else json.dumps(why, ensure_ascii=False),
                 "status": "selected", "run_id": run_id, "selected_at": now, "pr_number": None},
                pk="paper_id",
            )


def predicted_sections(store: Store, ids: Sequence[str]) -> dict[str, list[str]]:
    """paper_id -> the section paths of its newest prediction, best first (the `sections` list, then `section`)."""
    out: dict[str, list[str]] = {}
    for pid in ids:
        row = store.db.execute("SELECT section, sections FROM predictions WHERE paper_id = ? "
                               "ORDER BY created DESC, rowid DESC LIMIT 1", [pid]).fetchone()
        if row is None:
            continue
        try:
            ranked = [str(s[0]) for s in json.loads(row[1] or "[]") if isinstance(s, list | tuple) and s]
        except (ValueError, TypeError):
            ranked = []
        out[pid] = list(dict.fromkeys([*([row[0]] if row[0] else []), *ranked]))
    return out


def refile_proposals(store: Store, moved: Sequence[tuple[str, str]], unfiled: Sequence[str]) -> None:
    """Papers of the PR whose section vanished from the list: `moved` (id, new section) get their new section;
    `unfiled` ids left the PR (status `unfiled`, no PR number): never counted as rejected, free to come back."""
    with store.db.atomic():
        for pid, section in moved:
            store.db.execute("UPDATE proposals SET section = ? WHERE paper_id = ?", [section, pid])
        for pid in unfiled:
            store.db.execute("UPDATE proposals SET status = 'unfiled', pr_number = NULL WHERE paper_id = ? "
                             "AND status IN ('selected', 'proposed')", [pid])


def record_local_proposals(store: Store, chosen: Sequence[dict[str, Any]], proposed_at: str | None = None) -> None:
    """Papers proposed without a pull request (local mode, the backtest): intent recorded, then `proposed`."""
    record_intent(store, chosen, None)
    when = proposed_at or utcnow()
    with store.db.atomic():
        for p in chosen:
            store.db.table("proposals").update(p["id"], {"status": "proposed", "proposed_at": when})


def record_proposed(store: Store, entries: Sequence[Entry], pr: PullInfo | None, repo: str, branch: str,
                     head_sha: str | None) -> None:
    """Every paper on the branch becomes `proposed` in this PR; decided/ignored papers keep their status."""
    now = utcnow()
    with store.db.atomic():
        for e in entries:
            if e.arxiv_id is None:
                continue  # an entry without an arXiv id is no paper of the bot
            row = store.db.execute("SELECT status, pr_number FROM proposals WHERE paper_id = ?",
                                   [e.arxiv_id]).fetchone()
            number = pr.number if pr else None
            if row is not None and row[0] == "proposed" and row[1] == number:
                continue  # already recorded: keep its first proposed_at (a rerun changes nothing)
            if row is None:
                # The PR holds a paper the store does not know as proposed (state.db lost, or a person added it):
                # record it so it is never proposed a second time.
                store.db.table("proposals").insert({"paper_id": e.arxiv_id, "section": e.section, "status": "proposed",
                                              "pr_number": pr.number if pr else None, "proposed_at": now})
            elif row[0] in ("selected", "unignored", "unfiled", "proposed"):
                store.db.table("proposals").update(e.arxiv_id, {"status": "proposed", "pr_number": pr.number if pr else None,
                                                          "proposed_at": now})
        if pr is not None:
            save_pull(store, pr, repo, branch, stamp_changes=True, head_sha=head_sha or pr.head_sha,
                      created=pr.created)


def pr_proposals(store: Store, number: int) -> list[dict[str, Any]]:
    """The proposal rows of one pull request, with the papers' titles (the list's for reviewers' lines), by id."""
    return list(store.db.query("SELECT p.*, COALESCE((SELECT title FROM papers WHERE id = p.paper_id), p.title) "
                               "AS title "
                               "FROM proposals p WHERE pr_number = ? ORDER BY paper_id", [number]))


def proposal_counts(store: Store) -> dict[str, int]:
    """Number of proposal rows per status."""
    return dict(store.db.execute("SELECT status, COUNT(*) FROM proposals GROUP BY status").fetchall())


# --- pull requests ----------------------------------------------------------------------------------------


def known_pulls(store: Store) -> dict[int, dict[str, Any]]:
    """Every recorded pull request by number."""
    return {r["number"]: r for r in store.db.query("SELECT * FROM pull_requests")}


def save_pull(store: Store, pr: PullInfo, repo: str, branch: str, *, stamp_changes: bool = False,
              **fields: Any) -> None:
    """Write the pull_requests row of `pr` (the one writer of that table); `fields` add or override columns.

    With `stamp_changes`, the row is only written when a column changed, and then with `updated` = now.
    """
    row = {"number": pr.number, "repo": repo, "branch": branch, "head_sha": pr.head_sha,
           "state": "merged" if pr.merged else pr.state, "title": pr.title, "url": pr.url, **fields}
    if stamp_changes:
        old = store.db.execute(f"SELECT {', '.join(row)} FROM pull_requests WHERE number = ?",
                               [pr.number]).fetchone()
        if old is not None and tuple(old) == tuple(row.values()):
            return
        row["updated"] = utcnow()
    store.db.table("pull_requests").upsert(row, pk="number")


def open_pull(store: Store) -> dict[str, Any] | None:
    """The newest open pull request (number, url, branch, created, updated) and its proposed papers; or None."""
    row = store.db.execute(
        "SELECT number, url, branch, created, updated FROM pull_requests WHERE state = 'open' "
        "ORDER BY number DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    number, url, branch, created, updated = row
    (size,) = store.db.execute(
        "SELECT COUNT(*) FROM proposals WHERE pr_number = ? AND status = 'proposed'", [number]
    ).fetchone()
    return {"number": number, "url": url, "branch": branch, "created": created, "updated": updated, "papers": size}
