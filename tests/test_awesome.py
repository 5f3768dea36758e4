"""Unit tests of the awesome-list engine: ids, titles, entries, spans, sections, insertion, duplicates."""

from __future__ import annotations

import difflib

import pytest

from lfmwatch.awesome import (
    NewEntry,
    find_arxiv_ids,
    insert_entries,
    normalize_arxiv_id,
    normalize_title,
    parse_list,
    render_entry,
    split_lines,
)
from lfmwatch.errors import ListError

EXCLUDE = ["Table of Contents", "Citation", "Papers"]

LIST = """# Awesome Thing

Intro text with a link https://arxiv.org/abs/1111.11111 in prose.

## Table of Contents
- [Tuning](#tuning)
- [Reuse](#reuse)

## Tuning

### Fine Tuning

- [[arXiv](https://arxiv.org/abs/2008.03156)] Better fine-tuning by reducing representational collapse

- [[CVPR](https://openaccess.thecvf.com/x.html)] Robust  fine-tuning  of  zero-shot  models
  <!-- > a note
  - fake nested item [[arXiv](https://arxiv.org/abs/9999.99999)] Fake
  ## Fake heading in a comment -->
  ![](img/figure.png)

- :star: [[ICLR 2024](https://arxiv.org/pdf/2212.04089v3.pdf)] Editing models with task arithmetic

```
## Fake heading in a fence
- [[arXiv](https://arxiv.org/abs/8888.88888)] fenced
```

### Adapter Tuning
- [Adamix: Mixture-of-adapter](https://arxiv.org/abs/2205.12410v2) **[NeurIPS 2022]**
- [[arXiv](https://arxiv.org/abs/2205.12410)] Adamix again
##### Deep child
- [[arXiv](http://arxiv.org/abs/hep-th/9901001v1)] An old-style paper

## Reuse

<!--
## Commented heading
- [[arXiv](https://arxiv.org/abs/7777.77777)] Commented entry
-->

## Citation
```
@article{x}
```
"""


def test_normalize_arxiv_id_forms() -> None:
    assert normalize_arxiv_id("2310.08184") == "2310.08184"
    assert normalize_arxiv_id("2310.08184v3") == "2310.08184"
    assert normalize_arxiv_id("arXiv:2310.08184v1") == "2310.08184"
    assert normalize_arxiv_id("https://arxiv.org/abs/2310.08184v2") == "2310.08184"
    assert normalize_arxiv_id("https://arxiv.org/pdf/2310.08184.pdf") == "2310.08184"
    assert normalize_arxiv_id("http://arxiv.org/pdf/2310.08184v1") == "2310.08184"
    assert normalize_arxiv_id("https://arxiv.org/html/2310.08184v1") == "2310.08184"
    assert normalize_arxiv_id("https://www.arxiv.org/abs/1501.00001") == "1501.00001"
    assert normalize_arxiv_id("0704.0001") == "0704.0001"
    assert normalize_arxiv_id("hep-th/9901001") == "hep-th/9901001"
    assert normalize_arxiv_id("https://arxiv.org/abs/hep-th/9901001v2") == "hep-th/9901001"
    assert normalize_arxiv_id("cs.LG/0601001") == "cs/0601001"
    assert normalize_arxiv_id("https://arxiv.org/abs/math.AG/0601001v1") == "math/0601001"
    assert normalize_arxiv_id(" <https://arxiv.org/abs/2401.12345> ") == "2401.12345"


@pytest.mark.parametrize(
    "bad",
    ["", "hello", "2310.081", "2313.08184", "https://example.org/abs/2310.08184", "23100.08184", "2310.081845"],
)
def test_normalize_arxiv_id_rejects(bad: str) -> None:
    assert normalize_arxiv_id(bad) is None


def test_find_arxiv_ids_in_text() -> None:
    text = "see arXiv:2104.08691 , and https://arxiv.org/pdf/2106.10199v2 and CoRR abs/2106.10200 but not 2107.00001"
    assert [i for i, _ in find_arxiv_ids(text)] == ["2104.08691", "2106.10199", "2106.10200"]


def test_normalize_title_folds_markup() -> None:
    a = normalize_title("**Pre-train,  Prompt, and Predict**: A `Survey` of <i>Prompting</i>")
    b = normalize_title("pre train prompt and predict a survey of prompting")
    assert a == b
    assert normalize_title(r"$\textbf{Schrödinger}$'s   Models") == normalize_title("Schrodinger s models")
    assert normalize_title("[Title](https://x.y)") == "title"
    assert normalize_title("A") != normalize_title("B")


def test_sections_paths_levels_and_exclusion() -> None:
    lst = parse_list(LIST, EXCLUDE)
    assert lst.title == "Awesome Thing"
    paths = [s.path for s in lst.sections]
    assert paths == [
        "Table of Contents",
        "Tuning",
        "Tuning > Fine Tuning",
        "Tuning > Adapter Tuning",
        "Tuning > Adapter Tuning > Deep child",
        "Reuse",
        "Citation",
    ]
    assert [s.path for s in lst.sections if s.excluded] == ["Table of Contents", "Citation"]
    assert "Citation" not in lst.paper_sections() and "Tuning > Fine Tuning" in lst.paper_sections()
    deep = lst.section("Tuning > Adapter Tuning > Deep child")
    assert deep.level == 5 and split_lines(LIST)[deep.line].startswith("##### Deep child")


def test_entries_fields_and_spans() -> None:
    lines = split_lines(LIST)
    lst = parse_list(LIST, EXCLUDE)
    fine = lst.section("Tuning > Fine Tuning").entries
    assert [e.arxiv_id for e in fine] == ["2008.03156", None, "2212.04089"]
    assert fine[0].title == "Better fine-tuning by reducing representational collapse"
    assert fine[0].venue is None and fine[0].link == "https://arxiv.org/abs/2008.03156"
    assert fine[1].title == "Robust fine-tuning of zero-shot models"
    assert fine[1].venue == "CVPR"
    # The span covers the comment and the image attached under the item, not the blank line after it.
    assert lines[fine[1].start].startswith("- [[CVPR]")
    assert lines[fine[1].end - 1].strip() == "![](img/figure.png)"
    assert lines[fine[1].end].strip() == ""
    assert fine[2].venue == "ICLR 2024" and fine[2].title == "Editing models with task arithmetic"
    adapter = lst.section("Tuning > Adapter Tuning").entries
    assert adapter[0].title == "Adamix: Mixture-of-adapter" and adapter[0].venue == "NeurIPS 2022"
    assert adapter[0].arxiv_id == "2205.12410"
    assert lst.section("Tuning > Adapter Tuning > Deep child").entries[0].arxiv_id == "hep-th/9901001"


def test_comments_fences_and_toc_produce_no_entries() -> None:
    lst = parse_list(LIST, EXCLUDE)
    ids = {e.arxiv_id for e in lst.entries}
    assert not ids & {"9999.99999", "8888.88888", "7777.77777"}
    assert not any("Fake" in s.path or "Commented" in s.path for s in lst.sections)
    assert lst.section("Table of Contents").entries == []
    assert lst.section("Reuse").entries == []


def test_duplicates_reported() -> None:
    lst = parse_list(LIST, EXCLUDE)
    assert [(k, key, len(g)) for k, key, g in lst.duplicates] == [("arxiv", "2205.12410", 2)]
    assert lst.find(arxiv_id="https://arxiv.org/pdf/2008.03156v9") is not None
    assert lst.find(title="ROBUST fine tuning of zero shot models!") is not None
    assert lst.find(arxiv_id="2501.00001", title="Unknown paper") is None


def test_unknown_section_names_close_matches() -> None:
    lst = parse_list(LIST, EXCLUDE)
    with pytest.raises(ListError) as info:
        lst.section("Tuning > Fine Tunning")
    assert "Tuning > Fine Tuning" in str(info.value)


def _added_only(before: str, after: str) -> list[str]:
    diff = list(difflib.ndiff(before.splitlines(keepends=False), after.splitlines(keepends=False)))
    assert not [d for d in diff if d.startswith("- ")], "a line was removed or changed"
    return [d[2:] for d in diff if d.startswith("+ ")]


def test_insert_appends_after_last_entry_and_its_notes() -> None:
    new = NewEntry("Tuning > Fine Tuning", "2501.01234v2", "A new paper")
    res = insert_entries(LIST, [new], EXCLUDE)
    assert res.inserted == [new] and res.refused == []
    added = _added_only(LIST, res.text)
    assert added == ["- [[arXiv](https://arxiv.org/abs/2501.01234)] A new paper", ""]
    after = parse_list(res.text, EXCLUDE)
    fine = after.section("Tuning > Fine Tuning").entries
    assert fine[-1].arxiv_id == "2501.01234" and fine[-1].title == "A new paper"
    # The fenced block that followed the last entry is attached to it; the new entry comes after it.
    assert fine[-1].start > LIST.splitlines().index("```")


def test_insert_into_empty_section_and_parent_with_children() -> None:
    res = insert_entries(
        LIST,
        [NewEntry("Reuse", "2501.00001", "Into reuse"), NewEntry("Tuning", "2501.00002", "Into tuning")],
        EXCLUDE,
    )
    assert len(res.inserted) == 2
    _added_only(LIST, res.text)
    after = parse_list(res.text, EXCLUDE)
    assert [e.arxiv_id for e in after.section("Reuse").entries] == ["2501.00001"]
    assert [e.arxiv_id for e in after.section("Tuning").entries] == ["2501.00002"]
    lines = split_lines(res.text)
    tuning = after.section("Tuning")
    assert tuning.entries[0].start < after.section("Tuning > Fine Tuning").line
    # Most headings of this list are followed directly by their first item: the new one does the same.
    assert lines[tuning.line + 1].startswith("- [[arXiv](https://arxiv.org/abs/2501.00002)]")


def test_insert_refusals() -> None:
    batch = [
        NewEntry("Tuning > Fine Tuning", "2008.03156v4", "Better fine-tuning"),  # id already there
        NewEntry("Tuning > Fine Tuning", "2501.00009", "Robust Fine-Tuning of Zero-Shot Models"),  # title
        NewEntry("Citation", "2501.00010", "In an excluded section"),
        NewEntry("Nowhere", "2501.00011", "Unknown"),
        NewEntry("Reuse", "1111.11111", "Mentioned in the intro"),
        NewEntry("Reuse", "not-an-id", "Bad id"),
        NewEntry("Reuse", "2501.00012", "First of a pair"),
        NewEntry("Tuning", "2501.00012v2", "Same id again"),
        NewEntry("Tuning", "2501.00013", "first OF a pair"),
        NewEntry("Reuse", "2501.00014", " \n "),
    ]
    res = insert_entries(LIST, batch, EXCLUDE)
    reasons = {n.arxiv_id: r for n, r in res.refused}
    assert [n.arxiv_id for n in res.inserted] == ["2501.00012"]
    assert "already in the list" in reasons["2008.03156v4"]
    first = next(i for i, ln in enumerate(LIST.splitlines()) if "2008.03156" in ln)
    assert f"(line {first + 1})" in reasons["2008.03156v4"]
    assert "Robust fine-tuning" in reasons["2501.00009"]
    assert "excluded" in reasons["2501.00010"]
    assert "unknown section" in reasons["2501.00011"]
    assert "line 3" in reasons["1111.11111"]
    assert "invalid" in reasons["not-an-id"]
    assert reasons["2501.00012v2"] == "duplicate within this batch"
    assert reasons["2501.00013"] == "duplicate within this batch"
    assert "empty" in reasons["2501.00014"]


def test_crlf_and_missing_final_newline_kept() -> None:
    text = "# T\r\n\r\n## A\r\n\r\n- [[arXiv](https://arxiv.org/abs/2001.00001)] One\r\n\r\n- [[arXiv](https://arxiv.org/abs/2001.00002)] Two"
    res = insert_entries(text, [NewEntry("A", "2001.00003", "Three")], EXCLUDE)
    assert res.text == text + "\r\n\r\n- [[arXiv](https://arxiv.org/abs/2001.00003)] Three"
    lf = text.replace("\r\n", "\n") + "\n"
    res = insert_entries(lf, [NewEntry("A", "2001.00003", "Three")], EXCLUDE)
    assert res.text == lf + "\n- [[arXiv](https://arxiv.org/abs/2001.00003)] Three\n"


def test_style_inferred_from_entries() -> None:
    text = (
        "# T\n## A\n* [First paper title](https://arxiv.org/abs/2001.00001)\n"
        "* [Second paper title](https://arxiv.org/abs/2001.00002)\n## B\ntext\n"
    )
    lst = parse_list(text)
    line = render_entry(lst, NewEntry("A", "2001.00003", "Third [paper]"))
    assert line == "* [Third \\[paper\\]](https://arxiv.org/abs/2001.00003)"
    res = insert_entries(text, [NewEntry("A", "2001.00003", "Third"), NewEntry("B", "2001.00004", "Fourth")])
    assert _added_only(text, res.text) == [
        "* [Third](https://arxiv.org/abs/2001.00003)",
        "* [Fourth](https://arxiv.org/abs/2001.00004)",
        "",
    ]
    # The paragraph under B stays a paragraph: a blank line keeps it from joining the new item.
    assert parse_list(res.text).section("B").entries[0].title == "Fourth"


def test_details_blocks_are_opaque() -> None:
    text = """# T
## A

<details>
<summary> :x: <a href="https://arxiv.org/abs/2302.10879">KNN-Adapter: Efficient Domain Adaptation</a> </summary>
<br>
<blockquote>

## Not a heading
- [[arXiv](https://arxiv.org/abs/1911.00172)] not an entry

</blockquote>
</details>

## B
"""
    lst = parse_list(text)
    assert [s.path for s in lst.sections] == ["A", "B"]
    (entry,) = lst.section("A").entries
    assert entry.kind == "details" and entry.arxiv_id == "2302.10879"
    assert entry.title == "KNN-Adapter: Efficient Domain Adaptation"
    assert split_lines(text)[entry.end - 1].strip() == "</details>"
    res = insert_entries(text, [NewEntry("A", "2001.00001", "New")])
    _added_only(text, res.text)
    assert [e.arxiv_id for e in parse_list(res.text).section("A").entries] == ["2302.10879", "2001.00001"]
    # An id mentioned only inside a details block is still "in the file".
    assert insert_entries(text, [NewEntry("B", "1911.00172", "KNN-LM")]).refused


def test_parse_does_not_depend_on_trailing_content() -> None:
    assert parse_list("").sections == []
    assert parse_list("no headings\n- [x](https://arxiv.org/abs/2001.00001)\n").entries == []
    lst = parse_list("# T\n## Only\n- [[arXiv](https://arxiv.org/abs/2001.00001)]")
    assert lst.entries[0].title == "" and lst.entries[0].arxiv_id == "2001.00001"


def test_section_lookup_exact_then_whitespace_forgiving() -> None:
    text = "# T\n## Input -> Output\n### Sub\n"
    lst = parse_list(text)
    assert lst.section("Input -> Output > Sub").heading == "Sub"
    assert lst.section("  Input ->  Output >   Sub ").heading == "Sub"


def test_byte_order_mark_and_lone_cr() -> None:
    lst = parse_list("\ufeff# Title\n## A\n- [[arXiv](https://arxiv.org/abs/2001.00001)] One\n")
    assert lst.title == "Title" and [s.path for s in lst.sections] == ["A"]
    cr = "# T\r## A\r- [[arXiv](https://arxiv.org/abs/2001.00001)] One\r"
    res = insert_entries(cr, [NewEntry("A", "2001.00002", "Two")])
    assert res.text == cr + "\r- [[arXiv](https://arxiv.org/abs/2001.00002)] Two\r"


@pytest.mark.parametrize(
    "title",
    [
        "[" + "A-" * 400 + "x",
        "(" + "Ab " * 400,
        "A." * 400 + " x",
        ":a:" * 400 + " x",
        "<a href=" * 300,
        "[a](" * 300,
        "- " + " " * 1000 + "x",
    ],
)
def test_pathological_titles_are_handled(title: str) -> None:
    # These once made a regular expression backtrack for minutes; they must go through parse and insert.
    parse_list(f"# T\n## A\n- {title} [x](https://e.org/a)\n<details><summary>{title}</summary>\n")
    res = insert_entries("# T\n## A\n- [[arXiv](https://arxiv.org/abs/2001.00001)] Existing paper\n", [NewEntry("A", "2001.00002", title)])
    assert len(res.inserted) == 1


def test_bare_arxiv_urls_and_citations_are_entries() -> None:
    text = (
        "# T\n## A\n- https://arxiv.org/abs/2001.00001v3\n- Some Title. arXiv:2001.00002 , 2020.\n"
        "- <https://arxiv.org/pdf/2001.00003> Autolinked title\n- just words\n"
    )
    entries = parse_list(text).entries
    assert [(e.arxiv_id, e.title) for e in entries] == [
        ("2001.00001", ""),
        ("2001.00002", "Some Title"),
        ("2001.00003", "Autolinked title"),
    ]


def test_section_ending_in_an_unclosed_fence_is_refused_not_broken() -> None:
    text = (
        "# T\n## B\n- [[arXiv](https://arxiv.org/abs/2001.00001)] b\n\n"
        "## A\n- [[arXiv](https://arxiv.org/abs/2001.00002)] a\n```\nunclosed fence\n"
    )
    res = insert_entries(text, [NewEntry("A", "2001.00003", "Into A"), NewEntry("B", "2001.00004", "Into B")])
    assert [n.section for n in res.inserted] == ["B"]
    assert len(res.refused) == 1 and "unclosed" in res.refused[0][1]
    assert [e.arxiv_id for e in parse_list(res.text).section("B").entries] == ["2001.00001", "2001.00004"]
    _added_only(text, res.text)


def test_new_id_month() -> None:
    from lfmwatch.ids import new_id_month

    assert new_id_month("2405.01234") == (2024, 5) and new_id_month("0912.1234v3") == (2009, 12)
    for other in ("cs/0101001", "2413.01234", "2405.123", "arXiv:2405.01234", "2405.01234 "):
        assert new_id_month(other) is None
