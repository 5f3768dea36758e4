"""The feedback rules of the README ("How the bot learns"), one test each, plus the gate's pure rules and the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.cli_run import run
from lfmwatch.model.readers import feedback_examples
from lfmwatch.store.db import Store, utcnow
from lfmwatch.store.ledger import blocked_ids, ignore_paper, record_feedback, set_proposal_status

WI = "Model Reuse > Model Fusion > Weight Interpolation"
FT = "Model Tuning > Weight Enginerring > Fine Tuning"


def _pr(store: Store, number: int, state: str) -> None:
    store.db["pull_requests"].insert({"number": number, "repo": "o/r", "branch": "b", "state": state,
                                      "created": utcnow()}, replace=True)


def _by_id(store: Store) -> dict[str, tuple[str, str | None, float]]:
    return {e.id: (e.kind, e.section, e.weight) for e in feedback_examples(store)}


def _relevance_label(store: Store, pid: str) -> tuple[int, float]:
    """(label, weight) the trainer gives the paper: 1 positive, 0 hard negative, -1 unlabelled-like."""
    from lfmwatch.model.fit import FitOptions, dedupe

    papers, y, w = dedupe([e for e in feedback_examples(store) if e.id == pid])
    opts = FitOptions()
    weight = w[0] * (opts.negative_weight if y[0] == -1 else opts.hard_negative_weight if y[0] == 0 else 1)
    return int(y[0]), float(weight)


def test_removed_line_is_a_hard_negative(store: Store) -> None:
    _pr(store, 1, "merged")
    record_feedback(store, "2501.00001", "rejected", "pr#1", proposed_section=WI)
    assert _by_id(store)["2501.00001"][0] == "feedback_rejected"
    from lfmwatch.model.examples import KINDS
    from lfmwatch.model.fit import FitOptions

    label, weight = _relevance_label(store, "2501.00001")
    assert label == 0 and weight == KINDS["feedback_rejected"][2] * FitOptions().hard_negative_weight


def test_ignore_command_is_a_hard_negative(store: Store) -> None:
    record_feedback(store, "2501.00002", "ignored", "comment#5", proposed_section=WI)
    ignore_paper(store, "2501.00003")  # the CLI
    by = _by_id(store)
    assert by["2501.00002"][0] == by["2501.00003"][0] == "feedback_rejected"
    assert _relevance_label(store, "2501.00003")[0] == 0
    assert {"2501.00002", "2501.00003"} <= blocked_ids(store)


def test_closed_pr_blocks_but_teaches_only_a_weak_negative(store: Store) -> None:
    _pr(store, 2, "closed")
    record_feedback(store, "2501.00004", "closed", "pr#2", proposed_section=WI)
    set_proposal_status(store, "2501.00004", "rejected", pr_number=2)
    # A legacy row: closed PRs used to record `rejected` for every paper.
    record_feedback(store, "2501.00005", "rejected", "pr#2", proposed_section=WI)
    by = _by_id(store)
    assert by["2501.00004"][0] == by["2501.00005"][0] == "feedback_closed"
    from lfmwatch.model.fit import FitOptions

    label, weight = _relevance_label(store, "2501.00004")
    # Like an unlabelled paper (weight 1 x the unlabelled weight), far below a rejection's.
    assert label == -1 and weight == FitOptions().negative_weight
    assert weight < FitOptions().hard_negative_weight
    assert "2501.00004" in blocked_ids(store)


def test_closed_pr_confirmed_line_by_line_is_a_hard_negative(store: Store) -> None:
    _pr(store, 3, "closed")
    record_feedback(store, "2501.00006", "ignored", "comment#9", proposed_section=WI)  # before the close
    record_feedback(store, "2501.00006", "closed", "pr#3", proposed_section=WI)
    record_feedback(store, "2501.00007", "rejected", "pr#3/removed", proposed_section=WI)  # line removed, closed
    by = _by_id(store)
    assert by["2501.00006"][0] == by["2501.00007"][0] == "feedback_rejected"
    assert _relevance_label(store, "2501.00007")[0] == 0


def test_merge_without_edits_is_an_acceptance(store: Store) -> None:
    _pr(store, 4, "merged")
    record_feedback(store, "2501.00008", "accepted", "pr#4", section=WI, proposed_section=WI)
    assert _by_id(store)["2501.00008"] == ("feedback_accepted", WI, 2.0)
    assert _relevance_label(store, "2501.00008") == (1, 2.0)


def test_moved_line_teaches_its_new_section(store: Store) -> None:
    _pr(store, 5, "merged")
    record_feedback(store, "2501.00009", "moved", "pr#5", section=FT, proposed_section=WI)
    kind, section, _ = _by_id(store)["2501.00009"]
    assert kind == "feedback_moved" and section == FT
    from lfmwatch.model.fit import section_training_sets

    area, leaf = section_training_sets(feedback_examples(store))
    assert [e.section for e in leaf] == [FT]


def test_unignore_clears_and_newest_decision_wins(store: Store) -> None:
    ignore_paper(store, "2501.00010")
    from lfmwatch.store.ledger import unignore_paper

    assert unignore_paper(store, "2501.00010")
    assert "2501.00010" not in _by_id(store)
    _pr(store, 6, "merged")
    record_feedback(store, "2501.00010", "accepted", "pr#6", section=WI, proposed_section=WI)
    assert _by_id(store)["2501.00010"][0] == "feedback_accepted"


def test_sync_records_a_line_removed_before_closing_as_rejected(store: Store) -> None:
    from lfmwatch.pr.propose import propose
    from lfmwatch.pr.sync import sync
    from propose_fixtures import BRANCH, DAY1, README, REPO, make_config, make_fake, seed, session_for

    with make_fake() as gh:
        cfg = make_config()
        seed(store, DAY1)
        propose(store, cfg, session_for(gh))
        removed = DAY1[0][0]
        gh.remove_line(REPO, BRANCH, removed)  # a reviewer removes one line, then closes the whole PR
        gh.close_pull(REPO, 1)
        res = sync(store, cfg, session_for(gh))
        assert res.counts["rejected"] == 1 and res.counts["closed"] == 2
        by = _by_id(store)
        assert by[removed][0] == "feedback_rejected"
        assert {by[p[0]][0] for p in DAY1[1:]} == {"feedback_closed"}
        assert {p[0] for p in DAY1} <= blocked_ids(store)
        assert README  # the fixture list the PR was opened on


# --- the gate's pure rules -------------------------------------------------------------------------------


def test_threshold_is_held_without_evidence_and_lowered_with_it() -> None:
    from lfmwatch.model.gate import hold_threshold

    truth = {f"p{i}": (i % 2 == 0, None) for i in range(12)}
    prob = {f"p{i}": 0.3 for i in range(12)}  # all between 0.25 and 0.35
    thr, info = hold_threshold(truth, prob, 0.25, 0.35, 0.9)
    assert thr == 0.35 and info["band_papers"] == 12 and info["band_precision"] == 0.5 and "held" in info["rule"]
    good = {k: (True, None) for k in truth}
    thr, info = hold_threshold(good, prob, 0.25, 0.35, 0.9)
    assert thr == 0.25 and "lowered" in info["rule"]
    few = {k: v for k, v in list(good.items())[:5]}
    assert hold_threshold(few, prob, 0.25, 0.35, 0.9)[0] == 0.35  # 5 papers are too few
    assert hold_threshold(truth, prob, 0.5, 0.35, 0.9)[0] == 0.5  # a rise needs no evidence


def test_threshold_without_band_evidence_matches_the_champions_precision() -> None:
    """A challenger whose probabilities run lower (another calibration) is not held at the champion's number,
    where it would flag far fewer papers, but works at the champion's precision on the judged papers."""
    from lfmwatch.model.gate import figures, hold_threshold

    # 40 judged papers: the challenger ranks them like the champion but on half the scale.
    truth = {f"p{i:02d}": (i % 10 != 9, None) for i in range(40)}  # every tenth excluded: 0.9 included
    champ_prob = {k: 0.9 - 0.02 * i for i, k in enumerate(truth)}
    chall_prob = {k: p / 2 for k, p in champ_prob.items()}
    champ = figures(truth, champ_prob, {}, 0.5)  # the champion flags 21 papers
    assert champ["flagged"] == 21 and champ["precision"] == round(19 / 21, 4)
    thr, info = hold_threshold(truth, chall_prob, 0.05, 0.5, 0.95, champion_precision=champ["precision"])
    chall = figures(truth, chall_prob, {}, thr)
    assert info["rule"].startswith("matched") and info["used"] == round(thr, 4)
    assert thr < 0.5 and chall["precision"] >= champ["precision"] and chall["recall"] >= champ["recall"]
    # Never below the challenger's own threshold, and no match below it: held at the champion's number.
    assert hold_threshold(truth, chall_prob, 0.44, 0.5, 0.95, champion_precision=champ["precision"])[0] == 0.5
    # A match needs min_band flagged papers (here all 40 would be needed).
    assert hold_threshold(truth, chall_prob, 0.05, 0.5, 0.95, min_band=41, champion_precision=0.5)[0] == 0.5
    # Unknown champion precision: the champion's number, as before.
    assert hold_threshold(truth, chall_prob, 0.05, 0.5, 0.95)[0] == 0.5


def test_compare_names_each_metric_that_got_worse() -> None:
    from lfmwatch.model.gate import compare, figures

    truth = {"a": (True, "S"), "b": (True, "T"), "c": (False, None), "d": (True, "S")}
    champ = figures(truth, {"a": 0.9, "b": 0.8, "c": 0.1, "d": 0.7}, {"a": "S", "b": "T", "d": "S"}, 0.5)
    assert (champ["precision"], champ["recall"], champ["section_accuracy"]) == (1.0, 1.0, 1.0)
    worse = figures(truth, {"a": 0.9, "b": 0.2, "c": 0.8, "d": 0.7}, {"a": "S", "b": "S", "d": "S"}, 0.5)
    ok, reasons = compare(champ, worse)
    assert not ok and [r.split()[0] for r in reasons] == ["precision", "recall", "section"]
    assert compare(champ, champ) == (True, [])


def test_compare_accepts_a_precision_at_the_target_below_the_champions() -> None:
    """One judged paper less in a thousand is no reason to refuse a model that finds more, as long as it stays at
    the target precision; under the target, the champion's precision is what it must keep."""
    from lfmwatch.model.gate import compare

    champ = {"precision": 0.9163, "recall": 0.594, "section_accuracy": 0.745}
    chall = {"precision": 0.914, "recall": 0.641, "section_accuracy": 0.756}
    assert compare(champ, chall) == (False, ["precision 0.914 < champion's 0.916"])
    assert compare(champ, chall, target_precision=0.9) == (True, [])
    low = {**chall, "precision": 0.89}
    ok, reasons = compare(champ, low, target_precision=0.9)
    assert not ok and reasons == ["precision 0.890 < champion's 0.916 and under the target 0.900"]


# --- the bundle ------------------------------------------------------------------------------------------


def _shared(tmp: Path) -> Path:
    d = tmp / "data"
    d.mkdir()
    rows = lambda objs: "".join(json.dumps(o) + "\n" for o in objs)  # noqa: E731
    (d / "lfm-labels.jsonl").write_text(rows([
        {"id": "2401.00001", "section": WI, "title": "Soup", "abstract": None, "precision": "leaf"},
        {"id": "2401.00002", "section": FT, "title": "Tune", "abstract": "We tune.", "precision": "top"}]))
    (d / "lfm-reviewed.jsonl").write_text(rows([{"id": "2401.00003", "include": False},
                                                {"id": "2401.00004", "include": True, "section": WI}]))
    (d / "upstream-abstracts.jsonl").write_text(rows([{"id": "2201.00001", "title": "Old", "abstract": "Listed."}]))
    import gzip

    corpus = [{"id": f"2402.{i:05d}", "title": f"T{i}", "abstract": f"A{i}", "categories": ["cs.LG"]}
              for i in range(30)]
    corpus += [{"id": "2401.00001", "title": "Soup", "abstract": "Averaging weights.", "categories": ["cs.LG"]},
               {"id": "2401.00003", "title": "Use", "abstract": "We use LoRA.", "categories": ["math.AP"]},
               {"id": "2402.99999", "title": "Off", "abstract": "Off topic.", "categories": ["math.AP"]}]
    with gzip.open(d / "arxiv-corpus.jsonl.gz", "wt") as fh:
        fh.write(rows(corpus))
    return d


def test_bundle_is_reproducible_and_carded(tmp_path: Path) -> None:
    d = _shared(tmp_path)
    code, out = run("bundle", "--data", str(d), "--out", "models/b.jsonl.gz", "--unlabelled", "10")
    assert code == 0, out
    first = Path("models/b.jsonl.gz").read_bytes()
    c = json.loads(Path("models/b.card.json").read_text())
    assert c["counts"] == {"label": 2, "reviewed": 2, "text": 1, "unlabelled": 10}
    assert c["unlabelled_seen"] == 30 and c["command"].startswith("lfmwatch bundle --data")
    assert set(c["sources"]) == {"labels", "reviewed", "texts", "corpus"} and len(c["sha256"]) == 64
    assert run("bundle", "--data", str(d), "--out", "models/b.jsonl.gz", "--unlabelled", "10")[0] == 0
    assert Path("models/b.jsonl.gz").read_bytes() == first
    from lfmwatch.model.bundle import read_bundle

    b = read_bundle("models/b.jsonl.gz")
    assert b.texts["2401.00001"]["abstract"] == "Averaging weights."  # the label had none: the corpus's
    assert b.stream == {"2401.00001"}  # 2401.00003 is math.AP: not of the configured stream
    assert [e.kind for e in b.reviewed] == ["reviewed_neg", "reviewed_pos"] and b.unlabelled_seen == 30
    code, out = run("bundle", "--data", str(tmp_path), "--dry-run")
    assert code == 1 and "missing shared data" in out


def test_train_readme_alone_uses_the_bundle_texts(tmp_path: Path) -> None:
    from lfmwatch.model.bundle import write_bundle
    from test_model_cli import README, _write_inputs

    p = _write_inputs(tmp_path)
    write_bundle([{"kind": "text", "id": "2206.06520", "title": "Memory-based model editing at scale",
                   "abstract": "editing knowledge edit memory facts editor counterfactual memory"}],
                 {}, tmp_path / "models" / "lfm-bundle.jsonl.gz", "test")
    code, out = run("train", "--readme", str(p["readme"]), "--labels", str(p["labels"]), "--corpus",
                    str(p["corpus"]), "--no-fetch", "--out", "models/m.npz")
    assert code == 0, out
    assert "README: 2 entries with an arXiv id, 0 without an abstract" in out
    assert "2206.06520" in README
    (tmp_path / "models" / "lfm-bundle.jsonl.gz").unlink()
    code, out = run("train", "--readme", str(p["readme"]), "--labels", str(p["labels"]), "--corpus",
                    str(p["corpus"]), "--no-fetch", "--out", "models/m.npz")
    assert "README: 2 entries with an arXiv id, 1 without an abstract" in out


@pytest.mark.parametrize("cron", ["23 5 * * sun"])
def test_retrain_cron_is_a_config_key(cron: str, tmp_path: Path) -> None:
    from lfmwatch.config import Config, load_config

    assert Config().schedule.retrain_cron == cron
    (tmp_path / "lfmwatch.toml").write_text("[schedule]\nretrain_cron = 'every sunday'\n")
    from lfmwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="schedule.retrain_cron"):
        load_config(tmp_path / "lfmwatch.toml")


ROOT = Path(__file__).resolve().parents[1]


def test_committed_bundle_matches_its_card_and_stays_small() -> None:
    from lfmwatch.model.bundle import bundle_card_path, file_sha256, read_bundle

    bundle = ROOT / "models" / "lfm-bundle.jsonl.gz"
    c = json.loads(bundle_card_path(bundle).read_text())
    assert c["sha256"] == file_sha256(bundle) and c["bytes"] == bundle.stat().st_size < 10_000_000
    assert c["command"] == "lfmwatch bundle --data ../shared/data --out models/lfm-bundle.jsonl.gz"
    b = read_bundle(bundle)
    assert (len(b.labels), len(b.reviewed), len(b.unlabelled)) == (
        c["counts"]["label"], c["counts"]["reviewed"], c["counts"]["unlabelled"])


@pytest.mark.shared
def test_bundle_command_rebuilds_the_committed_bundle(shared_data: Path, tmp_path: Path) -> None:
    from lfmwatch.model.bundle import bundle_card_path

    card = json.loads(bundle_card_path(ROOT / "models" / "lfm-bundle.jsonl.gz").read_text())
    code, out = run("bundle", "--data", str(shared_data), "--out", str(tmp_path / "b.jsonl.gz"))
    assert code == 0, out
    rebuilt = json.loads((tmp_path / "b.card.json").read_text())
    assert rebuilt["sha256"] == card["sha256"] and rebuilt["sources"] == card["sources"]


def test_gate_never_compares_an_in_sample_section_against_an_out_of_fold_one() -> None:
    """A champion whose card records out-of-fold relevance but no sections (trained before sections were recorded)
    is compared on sections only for papers judged since it was trained; `train` now records the sections too."""
    import random as _random

    from lfmwatch.model.examples import example
    from lfmwatch.model.fit import FitOptions, fit_model
    from lfmwatch.model.gate import run_gate
    from test_model import NEG_TOPICS, SECTIONS, _text, tiny_examples

    rng = _random.Random(4)
    reviewed = [example(f"2403.{s}{i:04d}", _text(rng, topic, 8), _text(rng, topic), section, "reviewed_pos")
                for s, (section, topic) in enumerate(SECTIONS.items()) for i in range(8)]
    reviewed += [example(f"2403.9{i:04d}", _text(rng, t, 8), _text(rng, t), None, "reviewed_neg")
                 for i, t in enumerate(NEG_TOPICS * 2)]
    examples = tiny_examples() + reviewed
    opts = FitOptions(folds=2, min_df_keep=1, min_pos_df_keep=1, stream_prior=0.1)
    champion = fit_model(examples, sections=list(SECTIONS), options=opts)
    challenger = fit_model(examples, sections=list(SECTIONS), options=opts)
    assert "section" not in champion.card["oof_judged"]
    _, report = run_gate(champion, challenger, examples, target_precision=0.9, folds=2)
    assert report["champion"]["scored_out_of_fold"] == len(reviewed)
    assert report["champion"]["section_papers"] == report["challenger"]["section_papers"] == 0
    assert "no out-of-fold sections" in report["note"]
    from lfmwatch.cli.model_cmds import _record_oof_sections

    _record_oof_sections(champion, examples)
    _, report = run_gate(champion, challenger, examples, target_precision=0.9, folds=2)
    assert report["champion"]["section_papers"] == report["challenger"]["section_papers"] == 24
    assert report["champion"]["section_accuracy"] is not None and "note" not in report
