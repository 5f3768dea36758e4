"""Digest content on a store filled here (papers, predictions, proposals, feedback over several weeks)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from lfmwatch.config import Config
from lfmwatch.digest.content import (
    DigestPaper,
    build_digest,
    last_complete_week,
    parse_week,
    rising_topics,
    split_section,
    title_terms,
    week_bounds,
)
from lfmwatch.digest.render import build_message, render_html, render_text
from lfmwatch.store.db import open_store
from lfmwatch.store.papers import paper_from_record, upsert_papers
from lfmwatch.textsafe import inert

WEEK = "2025-W30"  # Mon 2025-07-21 .. Sun 2025-07-27
FUSION = "Model Reuse > Model Fusion > Weight Interpolation"
ADAPTER = "Model Tuning > Weight Enginerring > Adapter Tuning"
EDIT = "Model Editing > Parameter Based Model Editing > Meta Learning"
HOSTILE = [
    "<script>alert('x')</script> Merging experts <img src=http://evil.example/p.png>",
    "[click me](http://evil.example) Model merging for everyone",
    "Thanks @octocat: model merging via www.evil.example and evil.com",
]


def _paper(pid: str, title: str, day: str, authors: list[str] | None = None, field: str = "listed") -> dict:
    return paper_from_record({"id": pid, "title": title, "abstract": "Abstract text.", field: day,
                              "authors": authors if authors is not None else ["Ann One", "Bo Two"]})


def _predict(store, pid: str, section: str | None, score: float, relevant: int = 1, version: str = "m2",
             created: str = "2025-07-28T06:00:00+00:00") -> None:
    store.db["predictions"].upsert(
        {"paper_id": pid, "model_version": version, "relevant": relevant, "score": score, "section": section,
         "section_score": 0.8, "sections": "[]", "why": "[]", "created": created}, pk=("paper_id", "model_version"))


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "state.db")
    week_papers = [
        _paper("2507.20001", "Model merging with task vectors at scale", "2025-07-21",
               ["A. Alpha", "B. Beta", "C. Gamma", "D. Delta", "E. Eps"]),
        _paper("2507.20002", "Model merging without retraining", "2025-07-23"),
        _paper("2507.20003", "Sparse adapters for vision transformers", "2025-07-27"),
        _paper("2507.20004", "Locating facts for model editing", "2025-07-24", field="published"),
        _paper("2507.20005", "A paper the model found irrelevant", "2025-07-22"),
        _paper("2507.20006", "Model merging rejected by a reviewer", "2025-07-22"),
        _paper("2507.20007", "Only the old model liked this one", "2025-07-22"),
        _paper("2507.20008", "Selected although below threshold", "2025-07-25"),
        _paper("2507.20009", "Next week's model merging paper", "2025-07-28"),
        _paper("2507.20010", "Previous week's adapter paper", "2025-07-20"),
    ]
    hostile = [_paper(f"2507.3000{i}", t, "2025-07-22", ["@octocat", "<b>Eve</b>"]) for i, t in enumerate(HOSTILE)]
    # Four earlier weeks: adapters were common, model merging rare.
    history = []
    for w, monday in enumerate(["2025-06-23", "2025-06-30", "2025-07-07", "2025-07-14"]):
        for j in range(5):
            title = "Model merging revisited" if (w == 0 and j == 0) else f"Low-rank adapters for task {w}{j}"
            history.append(_paper(f"2506.4{w}{j:03d}", title, monday))
    upsert_papers(s, week_papers + hostile + history, source="import")
    _predict(s, "2507.20001", FUSION, 0.95)
    _predict(s, "2507.20002", FUSION, 0.81)
    _predict(s, "2507.20003", ADAPTER, 0.70)
    _predict(s, "2507.20004", EDIT, 0.66)
    _predict(s, "2507.20005", FUSION, 0.10, relevant=0)
    _predict(s, "2507.20006", FUSION, 0.90)
    _predict(s, "2507.20007", FUSION, 0.20, relevant=0)
    _predict(s, "2507.20007", FUSION, 0.90, relevant=1, version="m1", created="2025-07-01T00:00:00+00:00")
    _predict(s, "2507.20008", None, 0.30, relevant=0)
    _predict(s, "2507.20009", FUSION, 0.99)
    _predict(s, "2507.20010", ADAPTER, 0.99)
    for i in range(len(HOSTILE)):
        _predict(s, f"2507.3000{i}", FUSION, 0.5)
    for p in history:
        _predict(s, p["id"], ADAPTER, 0.6)
    s.db["proposals"].insert_all([
        {"paper_id": "2507.20006", "section": FUSION, "score": 0.9, "status": "rejected"},
        {"paper_id": "2507.20008", "section": EDIT, "score": 0.31, "status": "proposed"},
    ], pk="paper_id")
    s.db["feedback"].insert_all([
        {"paper_id": "2507.20001", "label": "accepted", "section": FUSION, "source": "pr#3",
         "created": "2025-07-26T10:00:00+00:00"},
        {"paper_id": "2506.40001", "label": "moved", "section": ADAPTER, "proposed_section": FUSION,
         "source": "pr#3", "created": "2025-07-26T10:00:00+00:00"},
        {"paper_id": "2506.40002", "label": "rejected", "section": None, "source": "pr#3",
         "created": "2025-07-26T10:00:00+00:00"},
        {"paper_id": "2506.40003", "label": "accepted", "section": ADAPTER, "source": "pr#2",
         "created": "2025-07-12T10:00:00+00:00"},
    ], pk="id")
    s.db["summaries"].insert({"paper_id": "2507.20002", "model": "gpt-x", "prompt_version": "tldr-v1",
                              "status": "ok", "summary": "Merges fine-tuned models by aligning their weights first.",
                              "error": None, "tokens": 40, "created": "2025-07-28"})
    yield s
    s.close()


def _ids(digest) -> list[str]:
    return [p.id for a in digest.areas for s in a.sections for p in s.papers]


def test_weeks():
    assert parse_week("2025w30") == "2025-W30" and parse_week(" 2025-W03 ") == "2025-W03"
    assert week_bounds("2025-W30") == (date(2025, 7, 21), date(2025, 7, 27))
    assert week_bounds("2020-W53")[1] == date(2021, 1, 3)
    for bad in ("2025-30", "2025-W54", "", "W30"):
        with pytest.raises(ValueError, match="ISO week|no ISO week"):
            parse_week(bad)
    assert last_complete_week(date(2025, 7, 28)) == "2025-W30"  # a Monday: last week is complete
    assert last_complete_week(date(2025, 8, 3)) == "2025-W30"  # a Sunday: this week is not over


def test_content_groups_relevant_papers_of_the_week(store):
    d = build_digest(store, WEEK, Config())
    ids = _ids(d)
    # The latest model's relevant papers of Mon..Sun (listed, or published when unlisted) plus proposals.
    assert set(ids) == {"2507.20001", "2507.20002", "2507.20003", "2507.20004", "2507.20008",
                        "2507.30000", "2507.30001", "2507.30002"}
    # Areas by size, then sections, papers best first.
    assert [a.name for a in d.areas] == ["Model Reuse", "Model Editing", "Model Tuning"]
    fusion = d.areas[0].sections[0]
    assert fusion.name == "Model Fusion > Weight Interpolation" and fusion.path == FUSION
    assert [p.id for p in fusion.papers][:2] == ["2507.20001", "2507.20002"]
    top = fusion.papers[0]
    assert top.author_line == "A. Alpha, B. Beta, C. Gamma et al." and top.url == "https://arxiv.org/abs/2507.20001"
    assert top.score == 0.95 and top.summary is None
    assert fusion.papers[1].summary == "Merges fine-tuned models by aligning their weights first."
    # A proposal keeps its proposed section and score even though the model said "not relevant".
    editing = {p.id: p for s in d.areas[1].sections for p in s.papers}
    assert editing["2507.20008"].section == EDIT and editing["2507.20008"].score == 0.31
    # What the list gained that week: accepted and moved feedback created that week, not rejected, not older.
    assert [(g.id, g.label, g.section) for g in d.gained] == [("2507.20001", "accepted", FUSION),
                                                               ("2506.40001", "moved", ADAPTER)]
    assert d.counts() == {"relevant": 8, "shown": 8, "hidden": 0, "gained": 2, "sections": 3}
    assert not d.empty


def test_rising_topics_against_previous_weeks(store):
    d = build_digest(store, WEEK, Config())
    terms = [t.term for t in d.rising]
    assert terms and terms[0] == "model merging"
    assert "merging" not in terms  # covered by the bigram
    assert all("adapter" not in t for t in terms)  # common before: not rising
    first = d.rising[0]
    assert first.count == 4 and first.share == 0.5 and first.before_share == 1 / 21
    assert d.history_papers == 20 + 1  # the four previous weeks (incl. the paper of Sun 2025-07-20)


def test_rising_topics_pure():
    assert title_terms("Towards Model Merging: a Study of LoRA-style Adapters in 2025") == {
        "merging", "model merging", "lora-style", "adapters", "lora-style adapters"}  # "model" alone is generic
    now = ["Diffusion distillation A", "Diffusion distillation B", "Diffusion distillation C", "Other thing",
           "Sparse routing", "Graph kernels", "Label noise", "Weight decay"]
    before = [["Prompt tuning X", "Prompt tuning Y", "Diffusion models Z", "Token pruning", "Image codecs"],
              ["Prompt tuning W", "Speech units", "Audio tokens"]]
    rising = rising_topics(now, before)
    assert [t.term for t in rising] == ["diffusion distillation"]
    assert rising_topics(now, []) == []  # no history, no claim
    # Too few papers to say anything: 2 of 3 titles this week is no "67% <- 29%" trend.
    assert rising_topics(now[:3], before) == []
    assert rising_topics(now, before[:1]) == []  # nor against a history of 5 papers
    # A term in only two titles is not a topic, even in a week of eight.
    assert rising_topics(now[1:], before) == []


def test_max_papers_keeps_the_best(store):
    c = Config()
    c.digest.max_papers = 3
    d = build_digest(store, WEEK, c)
    assert _ids(d) == ["2507.20001", "2507.20002", "2507.20003"]
    assert (d.relevant, d.shown, d.hidden) == (8, 3, 5)
    assert "5 more" in render_text(d, c) and "5 more" in render_html(d, c)


def test_empty_week(store):
    d = build_digest(store, "2025-W20", Config())
    assert d.empty and d.areas == [] and d.rising == []
    assert "Nothing new this week" in render_text(d, Config()) and "Nothing new this week" in render_html(d, Config())


def test_unfiled_and_single_level_sections():
    assert split_section(None) == ("Unfiled", "Unfiled")
    assert split_section("Model Tuning") == ("Model Tuning", "Model Tuning")
    assert split_section(" A > B > C ") == ("A", "B > C")
    assert DigestPaper("not-an-id", "t").url is None
    assert DigestPaper("2507.1", "t", authors=("x", "", "y")).author_line == "x, y"


HREF = re.compile(r'href="([^"]*)"')


def test_hostile_titles_are_inert_in_both_parts(store):
    c = Config()
    c.digest.list_unsubscribe = "mailto:unsubscribe@lfm.example"
    d = build_digest(store, WEEK, c)
    text, html = render_text(d, c), render_html(d, c)
    msg = build_message(d, c, text=text, html=html, now=datetime(2025, 7, 28, 7, 41))
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    # HTML: no tag, script, image or link from paper text; only our own links.
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<b>eve" not in html.lower()
    assert "&lt;script&gt;" in html
    hrefs = set(HREF.findall(html))
    assert all(h.startswith("https://arxiv.org/abs/") or h == "mailto:unsubscribe@lfm.example" for h in hrefs)
    assert "src=" not in html.lower().replace("src=http:\u2060", "")  # the only 'src=' is the broken one in text
    assert "<style" not in html.lower() and "<link" not in html.lower() and "stylesheet" not in html.lower()
    for part in (text, html):
        assert "http://evil" not in part and "www.evil" not in part and "evil.com" not in part
        assert "@octocat" not in part  # a WORD JOINER breaks mentions
        assert "@\u2060octocat" in part
        assert "[click me]" in part  # shown as text, never a link
    assert "Merges fine-tuned models by aligning their weights first." in text
    assert "https://arxiv.org/abs/2507.20001" in text
    assert "Rising topics: model merging" in text


def test_inert_breaks_links_and_mentions():
    assert inert("see https://x.io @bob www.a.b javascript:alert(1)") == (
        "see https:\u2060//x.\u2060io @\u2060bob www\u2060.a.\u2060b javascript\u2060:alert(1)")
    assert inert("GPT-4.5 and v2.0 stay") == "GPT-4.5 and v2.0 stay"
    assert inert("line\nbreak\u202e", 8) == "line\u2026"


@pytest.mark.parametrize("pid", ["2501.00001\n", "2501.00001 x", "javascript:alert(1)", "../2501.00001"])
def test_links_only_for_exact_arxiv_ids(pid: str) -> None:
    assert DigestPaper(id=pid, title="t").url is None
    assert DigestPaper(id="2501.00001", title="t").url == "https://arxiv.org/abs/2501.00001"
    assert DigestPaper(id="hep-th/9901001", title="t").url == "https://arxiv.org/abs/hep-th/9901001"
