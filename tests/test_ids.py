"""The one arXiv-id parser (lfmwatch.ids) and every caller that turns ids into keys or links."""

from __future__ import annotations

import pytest

from lfmwatch.digest.content import DigestPaper
from lfmwatch.ids import arxiv_abs_url, normalize_arxiv_id, paper_key, parse_arxiv_id
from lfmwatch.pr.body import arxiv_link
from lfmwatch.store.papers import RecordError, split_id


@pytest.mark.parametrize(("raw", "expected"), [
    ("2501.01234", ("2501.01234", None)),
    ("0704.0001", ("0704.0001", None)),
    ("2501.01234v12", ("2501.01234", 12)),
    ("arXiv:2501.01234v2", ("2501.01234", 2)),
    ("arxiv: 2501.01234", ("2501.01234", None)),
    ("http://arxiv.org/abs/2501.01234v2", ("2501.01234", 2)),
    ("https://export.arxiv.org/pdf/2501.01234v1.pdf", ("2501.01234", 1)),
    ("<https://arxiv.org/html/2501.01234>", ("2501.01234", None)),
    ("hep-th/9901001", ("hep-th/9901001", None)),
    ("HEP-TH/9901001v3", ("hep-th/9901001", 3)),
    # Old-style ids drop the subject class: arXiv's own preferred form and the API's entry ids do.
    ("math.AP/0601001", ("math/0601001", None)),
    ("math.AP/0601001v2", ("math/0601001", 2)),
    ("https://arxiv.org/abs/math.AP/0601001", ("math/0601001", None)),
    ("arXiv:math/0601001", ("math/0601001", None)),
])
def test_parse_forms(raw: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(raw) == expected
    assert normalize_arxiv_id(raw) == expected[0]
    assert split_id(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "hello", "2501.1", "2513.01234", "25010.1234", "2501.012345", "2501.01234v", "2501.01234 extra",
    "math.AP/06010011", "math/0613001", "https://example.org/abs/2501.01234", "arxiv.org/abs/", "../2501.01234",
])
def test_garbage_is_refused(raw: str) -> None:
    assert parse_arxiv_id(raw) is None and normalize_arxiv_id(raw) is None and arxiv_abs_url(raw) is None
    with pytest.raises(RecordError):
        split_id(raw)


def test_every_spelling_of_a_paper_is_one_key() -> None:
    spellings = ["math.AP/0601001", "math/0601001v4", "https://arxiv.org/abs/math.AP/0601001v1", "arXiv:math/0601001"]
    assert {paper_key(s) for s in spellings} == {"math/0601001"}
    assert paper_key("  not an id ") == "not an id"


def test_links_only_for_ids_and_built_from_the_parsed_id() -> None:
    assert arxiv_abs_url("math.AP/0601001") == "https://arxiv.org/abs/math/0601001"
    assert arxiv_link("2501.01234") == "[arXiv:2501.01234](https://arxiv.org/abs/2501.01234)"
    assert arxiv_link("math.AP/0601001") == "[arXiv:math/0601001](https://arxiv.org/abs/math/0601001)"
    assert "https://" not in arxiv_link("javascript:alert(1)")
    assert DigestPaper(id="hep-th/9901001", title="t").url == "https://arxiv.org/abs/hep-th/9901001"
    assert arxiv_abs_url("2501.01234v2") == "https://arxiv.org/abs/2501.01234"
    assert arxiv_abs_url("2501.01234\n") is None and arxiv_abs_url("arXiv:2501.01234") is None
    assert DigestPaper(id="x/../../evil", title="t").url is None
