"""Reviewer commands only where a reviewer typed one; only real arXiv ids reach the store; secrets never in logs."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakes.github_fake import GitHubFake
from lfmwatch.cli import _redact_logs, cli
from lfmwatch.pr.commands import command_text
from lfmwatch.pr.propose import propose
from lfmwatch.pr.sync import sync
from lfmwatch.store.db import Store
from lfmwatch.textsafe import redact
from propose_fixtures import DAY1, REPO, make_config, seed, session_for


def test_command_text_drops_code_blocks_quotes_and_indented_code() -> None:
    body = ("Example:\n```\n/lfmwatch ignore 2501.00001\n```\n~~~~md\n/lfmwatch ignore 2501.00002\n~~~~\n"
            "> /lfmwatch ignore 2501.00003\n    /lfmwatch ignore 2501.00004\n/lfmwatch ignore 2501.00005\n")
    text = command_text(body)
    assert "2501.00005" in text and not any(f"2501.0000{i}" in text for i in range(1, 5))
    assert command_text("```\n/lfmwatch ignore 2501.00001\n") == "\n"  # an unclosed fence runs to the end


def test_only_real_commands_with_real_ids_are_applied(gh: GitHubFake, store: Store) -> None:
    cfg = make_config()
    seed(store, DAY1)
    propose(store, cfg, session_for(gh))
    gh.comment(REPO, 1, "Use it like this:\n```\n/lfmwatch ignore 2501.00001\n```")
    gh.comment(REPO, 1, "> /lfmwatch ignore 2501.00002\nI agree with the above")
    gh.comment(REPO, 1, "/lfmwatch ignore ../../etc/passwd';\n/lfmwatch ignore 2501.00003")
    res = sync(store, cfg, session_for(gh))
    rows = dict(store.db.execute("SELECT paper_id, status FROM proposals").fetchall())
    assert rows == {"2501.00001": "proposed", "2501.00002": "proposed", "2501.00003": "ignored"}
    assert [r[0] for r in store.db.execute("SELECT paper_id FROM feedback")] == ["2501.00003"]
    assert res.counts["unknown"] == 1 and any("not an arXiv id" in e for e in res.errors)


def test_cli_ignore_refuses_a_non_arxiv_id(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["ignore", "../../etc/passwd';"])
    assert result.exit_code == 2 and "not an arXiv id" in result.output
    result = CliRunner().invoke(cli, ["ignore", "https://arxiv.org/abs/2501.00001v2"])
    assert result.exit_code == 0 and "ignored 2501.00001" in result.output


def test_redact_masks_url_credentials_and_key_params() -> None:
    text = "POST https://bob:sk-live-123@llm.example/v1/chat?api-key=sk-q-456&x=1 and sk-env-789"
    out = redact(text, ("sk-env-789",))
    assert "sk-live-123" not in out and "sk-q-456" not in out and "sk-env-789" not in out
    assert "https://***@llm.example/v1/chat?api-key=***&x=1" in out


def test_verbose_logs_never_print_a_key_from_openai_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://u:sk-pass-111@llm.example/v1?key=sk-query-222")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-333")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        _redact_logs()
        logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 200 OK"',
                                           "https://u:sk-pass-111@llm.example/v1/chat/completions?key=sk-query-222")
        logging.getLogger("openai").warning("Authorization: Bearer sk-env-333")
    finally:
        root.removeHandler(handler)
    logged = stream.getvalue()
    assert "llm.example" in logged and "***" in logged
    assert not any(s in logged for s in ("sk-pass-111", "sk-query-222", "sk-env-333"))


def test_lfmwatch_v_never_prints_secrets_of_openai_base_url(tmp_path: Path) -> None:
    """The real CLI under -v (HTTP libraries log every request URL) against the OpenAI fake."""
    openai_fake = pytest.importorskip("fakes.openai_fake")
    with Store(tmp_path / "state.db") as store:
        store.db["papers"].insert({"id": "2611.00001", "title": "Merging models", "abstract": "We merge models.",
                                   "source": "test", "authors": "[]", "categories": "[]"})
        store.db["proposals"].insert({"paper_id": "2611.00001", "status": "selected", "section": "X"})
    (tmp_path / "lfmwatch.toml").write_text("[summaries]\nenabled = true\nmax_retries = 0\ntimeout_seconds = 5\n")
    with openai_fake.OpenAIFake(openai_fake.answer("Merges fine-tuned models by averaging their weights.")) as llm:
        base = llm.base_url.replace("http://", "http://u:sk-pass-111@") + "?key=sk-query-222"
        env = {**os.environ, "OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-env-333",
               "PYTHONPATH": os.pathsep.join(sys.path)}
        run = subprocess.run([sys.executable, "-m", "lfmwatch", "-v", "summarize"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "127.0.0.1" in out and "/chat/completions" in out  # the request URL was logged...
    assert not any(s in out for s in ("sk-pass-111", "sk-query-222", "sk-env-333"))  # ...without its secrets
