"""Reviewers' commands as README edits (awesome.review_edit): remove and move one entry, every other byte kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfmwatch.awesome import parse_list
from lfmwatch.awesome.review_edit import move_entry, remove_entry
from lfmwatch.pr.commands import closest_sections, parse_commands
from propose_fixtures import AD, FT, README, WI

EXCLUDE = ["Table of Contents", "Citation"]


def entries(text: str) -> list[tuple[str, str | None]]:
    return [(e.section, e.arxiv_id) for e in parse_list(text, EXCLUDE).entries]


def test_remove_keeps_everything_else() -> None:
    res = remove_entry(README, "2104.08691", EXCLUDE)
    assert res.changed and "2104.08691" not in res.text
    assert entries(res.text) == [x for x in entries(README) if x[1] != "2104.08691"]
    # Only the entry's line and one separating blank line went away.
    assert len(README.splitlines()) - len(res.text.splitlines()) == 2
    assert "#### Adapter Tuning" in res.text and "\n\n\n" not in res.text
    last = remove_entry(README, "2203.05482", EXCLUDE)  # the last entry before a heading
    assert last.changed and "\n\n\n" not in last.text and "## Citation" in last.text
    assert remove_entry(README, "2501.99999", EXCLUDE).refused == "2501.99999 is not in the list"


def test_move_re_renders_in_the_target_section() -> None:
    res = move_entry(README, "2008.03156", "Weight Interpolation", EXCLUDE)
    assert res.refused == "unknown section 'Weight Interpolation'"  # a full path, as resolved by the command parser
    res = move_entry(README, "2008.03156", WI, EXCLUDE)
    assert res.changed and dict((pid, sec) for sec, pid in entries(res.text))["2008.03156"] == WI
    assert sorted(pid for _, pid in entries(res.text)) == sorted(pid for _, pid in entries(README))
    assert move_entry(README, "2008.03156", FT, EXCLUDE).refused == "already there"


def test_parse_commands_understands_and_explains() -> None:
    sections = [FT, AD, WI]
    cmds = parse_commands("Hi\n/lfmwatch ignore https://arxiv.org/abs/2501.00001v2\n /lfmwatch move 2501.00002 "
                          "adapter tuning\n> /lfmwatch ignore 2501.00003\n/lfmwatch Move 2501.00004 Fine Tunning\n"
                          "/lfmwatch ignore\n/lfmwatch ignore 2501.00005 please\n/lfmwatch help", sections)
    assert [(c.verb, c.paper, c.section, c.error) for c in cmds[:2]] == [
        ("ignore", "2501.00001", None, None), ("move", "2501.00002", AD, None)]
    errors = [c.error for c in cmds[2:]]
    assert errors[0] is not None and "unknown section 'Fine Tunning'" in errors[0] and FT in errors[0]
    assert errors[1] == "the arXiv id is missing (an id looks like 2401.01234)"
    assert "takes only the id" in str(errors[2]) and errors[3] == "unknown command 'help'"
    assert closest_sections("Tuning", sections)[:2] == [FT, AD]  # ambiguous heading: both named


@pytest.mark.shared
def test_every_entry_of_the_real_list_can_be_removed(shared_data: Path) -> None:
    text = (shared_data / "awesome-lfm" / "README.md").read_bytes().decode("utf-8")
    from lfmwatch.config import Config

    exclude = Config().target.exclude_sections
    lst = parse_list(text, exclude)
    ids = [e.arxiv_id for e in lst.entries if e.arxiv_id]
    for pid in ids[::7]:
        res = remove_entry(text, pid, exclude)
        assert res.changed, (pid, res.refused)
        assert "\r\n" in res.text and res.text.count("\n") == res.text.count("\r\n")  # CRLF kept
