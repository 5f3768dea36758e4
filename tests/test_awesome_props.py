"""Property tests: generated READMEs (comments, fences, details, notes, CRLF, no final newline, odd titles)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lfmwatch.awesome import NewEntry, insert_entries, parse_list
from lfmwatch.awesome.parse import clean_title
from lfmwatch.textsafe import one_line

EXCLUDE = ["Table of Contents", "Citation", "Papers"]

# Titles never contain the marker words of the hidden entries (the alphabet can spell "fake" and "fenced").
_words = (st.text(alphabet="abcdefghij klmnop-:", min_size=1, max_size=20).map(lambda s: s.strip() or "w")
          .filter(lambda s: "fake" not in s and "fenced" not in s))
_hostile = st.text(alphabet="ab []()*_`<>|@#:/.\\!-=+~&;w\n1\r\t", min_size=1, max_size=40)


@st.composite
def _entry(draw, n: int) -> list[str]:
    title = draw(_words)
    form = draw(st.sampled_from(["tag", "link", "venue", "star", "pdf"]))
    line = {
        "tag": f"- [[arXiv](https://arxiv.org/abs/1901.{n:05d})] {title}",
        "link": f"- [{title} paper](https://arxiv.org/abs/1901.{n:05d}v2)",
        "venue": f"- [[ICML](https://proceedings.example.org/p{n}.html)] {title} venue paper {n}",
        "star": f"- :star: [[arXiv](http://arxiv.org/pdf/1901.{n:05d}.pdf)] {title}",
        "pdf": f"* [[Arxiv](https://arxiv.org/pdf/1901.{n:05d})]{title}",
    }[form]
    lines = [line + draw(st.sampled_from(["", " ", "  "]))]
    for _ in range(draw(st.integers(0, 2))):
        lines.append(
            draw(
                st.sampled_from(
                    [
                        "  <!-- > note\n  ## fake heading\n  - [[arXiv](https://arxiv.org/abs/1111.99999)] fake -->",
                        "  > ![](README.assets/fig.png)",
                        "  - nested note [x](https://example.org)",
                        "    ![](img.png)",
                        "  <!-- >![](README.assets/a.png) -->",
                    ]
                )
            )
        )
    return lines


@st.composite
def _document(draw) -> tuple[str, int]:
    blocks: list[str] = ["# Title", ""]
    n = 0
    names = draw(st.lists(_words, min_size=1, max_size=5))
    for k, name in enumerate(names):
        level = draw(st.integers(2, 5))
        blocks.append("#" * level + " " + f"{name} {k}" + draw(st.sampled_from(["", " ##", "  "])))
        blocks.extend([""] * draw(st.integers(0, 2)))
        blank = draw(st.booleans())
        for _ in range(draw(st.integers(0, 4))):
            n += 1
            blocks.extend(draw(_entry(n)))
            if blank:
                blocks.append("")
        extra = draw(
            st.sampled_from(
                [
                    "",
                    "<!--\n## Commented\n- [[arXiv](https://arxiv.org/abs/1111.88888)] commented\n-->",
                    "```\n## fenced\n- [[arXiv](https://arxiv.org/abs/1111.77777)] fenced\n```",
                    "<details>\n<summary><a href=\"https://example.org/d\">Details paper title</a></summary>\n\n"
                    "## inside details\n- [x](https://example.org/y) inner\n\n</details>",
                    "Some paragraph text.",
                    "| a | b |\n|---|---|\n| - [x](https://example.org) | y |",
                ]
            )
        )
        if extra:
            blocks.extend([extra, ""])
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join("\n".join(blocks).split("\n"))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    else:
        text = text.rstrip("\r\n") + eol
    return text, n


def _only_added(before: list[str], after: list[str]) -> bool:
    it = iter(after)
    return all(any(line == other for other in it) for line in before)


@settings(max_examples=200, deadline=None)
@given(_document())
def test_no_change_gives_identical_bytes(doc: tuple[str, int]) -> None:
    text, _ = doc
    lst = parse_list(text, EXCLUDE)
    assert insert_entries(text, [], EXCLUDE).text == text
    # A batch that is refused entirely leaves the bytes alone too.
    refused = [NewEntry("No such section", "2501.00001", "x")]
    if lst.entries and lst.entries[0].arxiv_id:
        refused.append(NewEntry(lst.entries[0].section, lst.entries[0].arxiv_id, "again"))
    res = insert_entries(text, refused, EXCLUDE)
    assert res.text == text and not res.inserted
    assert not any("fake" in e.title or "commented" in e.title or "fenced" in e.title for e in lst.entries)
    assert not any(s.heading.startswith(("fake", "Commented", "fenced", "inside")) for s in lst.sections)


@settings(max_examples=200, deadline=None)
@given(_document(), st.data())
def test_insert_adds_exactly_the_new_entries(doc: tuple[str, int], data: st.DataObject) -> None:
    text, _ = doc
    before = parse_list(text, EXCLUDE)
    paths = list(dict.fromkeys(before.paper_sections()))
    chosen = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)) if paths else []
    titles = data.draw(st.lists(_hostile, min_size=len(chosen), max_size=len(chosen)))
    batch = [NewEntry(p, f"2502.{i:05d}", f"{t} title {i}") for i, (p, t) in enumerate(zip(chosen, titles, strict=True))]
    res = insert_entries(text, batch, EXCLUDE)
    assert res.inserted == batch and not res.refused
    after = parse_list(res.text, EXCLUDE)
    old = [(e.section, e.arxiv_id, e.title) for e in before.entries]
    new = [(e.section, e.arxiv_id, e.title) for e in after.entries]
    added = [e for e in new if e not in old]
    assert sorted((s, i) for s, i, _ in added) == sorted((n.section, n.arxiv_id) for n in batch)
    # The title reads back as the text that was asked for (markup escaped, never interpreted).
    assert sorted(t for _, _, t in added) == sorted(clean_title(one_line(n.title)) for n in batch)
    assert [e for e in new if e in old] == old
    if batch:
        assert _only_added(text.splitlines(), res.text.splitlines())
        assert len(res.text.splitlines()) > len(text.splitlines())
    assert res.text.endswith("\n") == text.endswith("\n")
    if "\r\n" in text:
        assert res.text.count("\n") == res.text.count("\r\n")
    else:
        assert "\r" not in res.text
