"""Subscribers' addresses come from a secret and never reach state.db (which the bot commits, often publicly)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlite_utils

from fakes.smtp_server import SmtpFake
from lfmwatch.config import Config
from lfmwatch.digest.send import digest_recipients, send_digest
from lfmwatch.errors import ConfigError
from lfmwatch.store.db import Store, migrations
from lfmwatch.store.mail import recipient_key
from test_mailer import WEEK, _config, _env, store  # noqa: F401  (fixture)


def _dump(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


def test_recipients_from_the_secret_and_none_in_the_store(store: Store, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("LFMWATCH_DIGEST_RECIPIENTS", "Ann@Private.example, bob@private.example;gone@private.example")
    config = _config(bcc=False)
    config.digest.recipients = []
    with SmtpFake(refuse={"gone@private.example": 550}) as smtp, caplog.at_level(logging.WARNING):
        _env(monkeypatch, smtp)
        r = send_digest(store, config, WEEK)
        assert (r.status, r.sent, r.refused) == ("sent", 2, 1)
        assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["Ann@Private.example", "bob@private.example"]
    assert "digest.recipients" not in caplog.text  # nothing to warn about
    store.db.execute("PRAGMA wal_checkpoint(FULL)")
    assert "private.example" not in _dump(store.path)
    keys = {row["recipient"] for row in store.db["digest_recipients"].rows}
    assert keys == {recipient_key(a) for a in ("ann@private.example", "bob@private.example", "gone@private.example")}


def test_file_source_and_a_warning_for_addresses_in_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    config = Config()
    config.digest.recipients = ["pub@example.org"]
    with caplog.at_level(logging.WARNING):
        assert digest_recipients(config) == (["pub@example.org"], "digest.recipients")
    assert "LFMWATCH_DIGEST_RECIPIENTS" in caplog.text and "pub@example.org" not in caplog.text
    (tmp_path / "subs.txt").write_text("# readers\nx@example.org\n\ny@example.org  # lab\n")
    monkeypatch.setenv("LFMWATCH_DIGEST_RECIPIENTS_FILE", str(tmp_path / "subs.txt"))
    assert digest_recipients(config) == (["x@example.org", "y@example.org"], "LFMWATCH_DIGEST_RECIPIENTS_FILE")
    monkeypatch.setenv("LFMWATCH_DIGEST_RECIPIENTS", "not-an-address")
    with pytest.raises(ConfigError) as err:
        digest_recipients(config)
    assert "not-an-address" not in str(err.value)


def test_migration_scrubs_addresses_written_by_older_versions_and_resume_still_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "old.db"
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m006_recipients_hashed")  # the schema an older lfmwatch left
    old["digests"].insert({"week": WEEK, "status": "partial", "papers": 0, "created": "2025-07-28"})
    old["digest_recipients"].insert_all([
        {"week": WEEK, "recipient": "a@example.org", "status": "sent", "sent_at": "2025-07-28"},
        {"week": WEEK, "recipient": "b@example.org", "status": "failed", "error": "451 <b@example.org> later"},
    ])
    old["runs"].insert({"kind": "digest", "started": "2025-07-28", "status": "failed",
                        "error": "b@example.org refused: 550"})
    old.close()
    with Store(db_path) as migrated:
        migrated.db.execute("PRAGMA wal_checkpoint(FULL)")
        assert "example.org" not in _dump(db_path)
        rows = {r["recipient"]: r for r in migrated.db["digest_recipients"].rows}
        assert set(rows) == {recipient_key("a@example.org"), recipient_key("b@example.org")}
        assert recipient_key("b@example.org") in rows[recipient_key("b@example.org")]["error"]
        with SmtpFake() as smtp:  # the resumed send skips a@ (served before the upgrade) and serves b@
            _env(monkeypatch, smtp)
            r = send_digest(migrated, _config("a@example.org", "b@example.org", bcc=False, send_empty=True), WEEK)
            assert r.status == "sent" and [m.rcpt_tos for m in smtp.messages] == [["b@example.org"]]
