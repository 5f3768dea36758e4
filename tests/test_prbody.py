"""The PR body: grouping, escaping, footer (pure)."""

from __future__ import annotations

from lfmwatch.pr.body import (
    FOOTER,
    MARKER,
    MAX_BODY,
    arxiv_link,
    gist,
    render_pr_body,
    runner_up,
    short_authors,
    ticked,
    why_words,
)


def test_body_groups_by_section_in_list_order() -> None:
    papers = [
        {"id": "2501.00002", "title": "B paper", "section": "Z > Leaf", "score": 0.5, "why": '["w1", "w2"]'},
        {"id": "2501.00001", "title": "A paper", "section": "A > Leaf", "score": 0.9, "why": ["merge"],
         "summary": "Merges models [fast](http://x)."},
        {"id": "2501.00003", "title": "C paper", "section": "A > Leaf", "score": 0.95, "why": None,
         "proposed_section": "Z > Leaf"},
    ]
    body = render_pr_body(papers, ["Z > Leaf", "A > Leaf"])
    assert body.startswith(MARKER) and "**3 papers**" in body
    assert body.index("### Z \\> Leaf") < body.index("### A \\> Leaf")
    assert body.index("C paper") < body.index("A paper")  # best first inside a section
    assert "[arXiv:2501.00001](https://arxiv.org/abs/2501.00001) · score 0.90" in body
    assert "- why: w1, w2" in body and "  Merges models \\[fast\\](http:" in body
    assert "moved here from: Z \\> Leaf" in body
    assert "/lfmwatch move ARXIV_ID" in body and "never force-pushes" in body


def test_helpers() -> None:
    assert arxiv_link("hep-th/9901001").startswith("[arXiv:hep-th/9901001](https://arxiv.org/abs/hep-th/9901001)")
    assert arxiv_link("x](http://evil").startswith("x\\](http:")  # escaped: not a link
    assert why_words('["a", "", null]') == ["a"] and why_words("plain") == ["plain"] and why_words(3) == []


def test_long_body_stays_within_githubs_limit() -> None:
    papers = [{"id": f"2501.{i:05d}", "title": f"Paper {i} " + "t" * 280, "section": f"S{i % 3} > Leaf",
               "score": 0.5 + i / 1000, "why": [f"word{j}" for j in range(8)], "summary": "s" * 500}
              for i in range(200)]
    full = render_pr_body(papers[:20])
    assert "  " + "s" * 290 in full and "why: " in full and "more paper" not in full  # small PRs: everything
    body = render_pr_body(papers)
    assert len(body) <= MAX_BODY and body.startswith(MARKER) and body.rstrip().endswith(FOOTER.splitlines()[-1])
    listed = sum(1 for p in papers if f"abs/{p['id']})" in body)
    assert 100 < listed < 200 and f"and {200 - listed} more papers" in body
    tiny = render_pr_body(papers, max_chars=3000)
    assert len(tiny) <= 3000 + len(FOOTER) and "and " in tiny and "Close this PR" in tiny


def test_each_paper_has_authors_gist_runner_up_and_a_reject_box() -> None:
    paper = {"id": "2501.00007", "title": "Merging <b>models</b>", "section": "A > Merging", "score": 0.8,
             "authors": '["A. Alpha", "B. Beta", "C. Gamma", "D. Delta"]',
             "abstract": "We merge models [here](http://evil.example). Then we test it. More.",
             "sections": [["A > Merging", 0.7], ["B > Editing", 0.2]], "why": ["model merging"]}
    own = {"id": "2501.00008", "title": "Own line", "section": "A > Merging", "origin": "reviewer",
           "added_by": "alice", "list_title": "Own line as listed"}
    body = render_pr_body([paper, own], ["A > Merging"])
    assert "**1 paper**" in body  # the reviewer's own line is not a proposal
    assert "- [ ] **Merging \\<b\\>models\\</b\\>** — [arXiv:2501.00007]" in body
    assert "  A. Alpha, B. Beta, C. Gamma et al. — We merge models \\[here\\](http:" in body
    assert "Then we test" not in body and "- runner-up: B \\> Editing (0.20)" in body
    assert "<details><summary>details</summary>" in body and "</details>" in body
    assert "### Added by reviewers (1)" in body and "Own line as listed" in body and "added by alice" in body
    assert body.index("Added by reviewers") > body.index("2501.00007")
    assert ticked(body) == [] and ticked(body.replace("- [ ] **Merging", "- [x] **Merging")) == ["2501.00007"]
    assert ticked("- [x] fake <!-- lfmwatch:paper:2501.00009 -->\n- [X] x <!-- lfmwatch:paper:2501.00010v2 -->") == [
        "2501.00009", "2501.00010"]
    from test_review_fixes import rendered_html

    assert rendered_html(body) == []  # escaped: nothing a reader could click or run besides the arXiv links


def test_gist_authors_runner_up_helpers() -> None:
    assert gist({"summary": "LLM one-liner.", "abstract": "First. Second."}) == "LLM one-liner."
    assert gist({"abstract": "We use e.g. soups. Second one."}) == "We use e.g. soups."
    assert gist({}) == "" and short_authors([]) == "" and short_authors('["Solo"]') == "Solo"
    assert runner_up({"section": "A", "sections": '[["A", 0.9]]'}) is None
    assert runner_up({"section": "A", "sections": [["B", None]]}) == ("B", None)
