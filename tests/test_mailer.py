"""Sending the digest to a real SMTP server on 127.0.0.1 (aiosmtpd): TLS, AUTH, refusals, idempotency, resume."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakes.smtp_server import SmtpFake, self_signed_cert
from lfmwatch.config import Config
from lfmwatch.digest.send import send_digest
from lfmwatch.errors import ConfigError, NetworkError
from lfmwatch.store.db import open_store
from lfmwatch.store.mail import recipient_key
from lfmwatch.store.papers import paper_from_record, upsert_papers

WEEK = "2025-W30"


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "state.db")
    papers = [paper_from_record({"id": f"2507.1000{i}", "title": f"Merging adapters at scale, part {i}",
                                 "abstract": "An abstract.", "authors": ["Ada L", "Alan T"], "listed": "2025-07-22"})
              for i in range(3)]
    upsert_papers(s, papers, source="import")
    s.db["predictions"].insert_all([
        {"paper_id": p["id"], "model_version": "m1", "relevant": 1, "score": 0.9, "section":
         "Model Reuse > Model Fusion > Weight Interpolation", "sections": "[]", "why": "[]", "created": "2025-07-28"}
        for p in papers
    ])
    yield s
    s.close()


@pytest.fixture
def cert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    files = self_signed_cert(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(files.cert))  # how a private CA is trusted in production too
    return files


def _config(*recipients: str, security: str = "none", bcc: bool = True, **digest) -> Config:
    c = Config()
    c.digest.recipients = list(recipients) or ["reader@example.org"]
    c.digest.smtp_security = security
    c.digest.bcc = bcc
    c.digest.max_retries = digest.pop("max_retries", 1)
    c.digest.backoff_seconds = 0.01
    c.digest.timeout_seconds = 5
    c.digest.sender = "LFM bot <bot@lfm.example>"
    for k, v in digest.items():
        setattr(c.digest, k, v)
    return c


def _env(monkeypatch: pytest.MonkeyPatch, smtp: SmtpFake, user: str | None = None, password: str | None = None):
    monkeypatch.setenv("LFMWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LFMWATCH_SMTP_PORT", str(smtp.port))
    if user:
        monkeypatch.setenv("LFMWATCH_SMTP_USER", user)
    if password:
        monkeypatch.setenv("LFMWATCH_SMTP_PASSWORD", password)


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_plain_send_parses_as_multipart_and_rerun_sends_nothing(store, monkeypatch):
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        config = _config("a@example.org", "b@example.org", list_unsubscribe="https://lfm.example/unsub")
        r = send_digest(store, config, WEEK)
        assert (r.status, r.sent, r.papers) == ("sent", 2, 3)
        assert len(smtp.messages) == 1
        got = smtp.messages[0]
        assert sorted(got.rcpt_tos) == ["a@example.org", "b@example.org"] and got.mail_from == "bot@lfm.example"
        msg = _parse(got.data)
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["Subject"].endswith(WEEK) and msg["From"] == "LFM bot <bot@lfm.example>"
        assert msg["To"] == "LFM bot <bot@lfm.example>" and "Bcc" not in msg  # recipients only in the envelope
        assert msg["Message-ID"] == f"<lfmwatch-digest.{WEEK}@lfm.example>" and msg["Date"]
        assert msg["List-Unsubscribe"] == "<https://lfm.example/unsub>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Merging adapters at scale, part 0" in text and "https://arxiv.org/abs/2507.10000" in text
        assert "Merging adapters at scale, part 0" in html and "<script" not in html.lower()
        again = send_digest(store, config, WEEK)
        assert again.status == "already_sent" and "already sent" in again.line()
        assert len(smtp.messages) == 1
    row = store.db["digests"].get(WEEK)
    assert row["status"] == "sent" and row["papers"] == 3 and row["sent_at"]


def test_starttls_with_auth(store, monkeypatch, cert):
    with SmtpFake(security="starttls", cert=cert, users={"bot": "s3cret"}) as smtp:
        _env(monkeypatch, smtp, "bot", "s3cret")
        r = send_digest(store, _config(security="starttls"), WEEK)
        assert r.status == "sent"
        assert smtp.messages[0].tls and smtp.messages[0].auth_user == "bot"


def test_implicit_tls_with_auth(store, monkeypatch, cert):
    with SmtpFake(security="tls", cert=cert, users={"bot": "s3cret"}) as smtp:
        _env(monkeypatch, smtp, "bot", "s3cret")
        r = send_digest(store, _config(security="tls"), WEEK)
        assert r.status == "sent" and smtp.messages[0].tls and smtp.messages[0].auth_user == "bot"


def test_auth_failure_is_a_config_error_without_the_password(store, monkeypatch, cert):
    with SmtpFake(security="starttls", cert=cert, users={"bot": "s3cret"}) as smtp:
        _env(monkeypatch, smtp, "bot", "wrong-pass-xyz")
        with pytest.raises(ConfigError, match="LFMWATCH_SMTP_PASSWORD") as info:
            send_digest(store, _config(security="starttls"), WEEK)
        assert "wrong-pass-xyz" not in str(info.value)
        assert smtp.messages == [] and set(smtp.auth_failures) == {"bot"}  # smtplib tries PLAIN and LOGIN
    assert store.db["digests"].get(WEEK)["status"] != "sent"


def test_untrusted_certificate_is_refused(store, monkeypatch, tmp_path):
    cert = self_signed_cert(tmp_path / "tls")  # not trusted: no SSL_CERT_FILE
    with SmtpFake(security="tls", cert=cert) as smtp:
        _env(monkeypatch, smtp)
        with pytest.raises(NetworkError, match="certificate"):
            send_digest(store, _config(security="tls", max_retries=0), WEEK)
        assert smtp.messages == []


def test_password_never_sent_in_clear(store, monkeypatch):
    monkeypatch.setenv("LFMWATCH_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("LFMWATCH_SMTP_USER", "bot")
    monkeypatch.setenv("LFMWATCH_SMTP_PASSWORD", "pw")
    with pytest.raises(ConfigError, match="without TLS"):
        send_digest(store, _config(security="none"), WEEK)


def test_refused_recipient_is_recorded_not_retried(store, monkeypatch):
    with SmtpFake(refuse={"gone@example.org": 550}) as smtp:
        _env(monkeypatch, smtp)
        config = _config("a@example.org", "gone@example.org")
        r = send_digest(store, config, WEEK)
        assert (r.status, r.sent, r.refused) == ("sent", 1, 1)
        assert smtp.messages[0].rcpt_tos == ["a@example.org"]
        states = {row["recipient"]: row for row in store.db["digest_recipients"].rows}
        gone = states[recipient_key("gone@example.org")]  # the store keeps keys, never addresses
        assert gone["status"] == "refused" and "550" in gone["error"] and "@" not in gone["error"]
        assert send_digest(store, config, WEEK).status == "already_sent"
        assert len(smtp.messages) == 1


def test_transient_failure_is_retried_with_backoff(store, monkeypatch):
    pauses: list[float] = []
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        smtp.fail_data("451 4.3.0 try later", times=2)
        r = send_digest(store, _config(max_retries=2, bcc=False), WEEK, sleep=pauses.append)
        assert r.status == "sent" and len(smtp.messages) == 1
        assert pauses == [0.01, 0.02]


def test_partial_failure_then_resume_serves_only_the_rest(store, monkeypatch):
    recipients = ("a@example.org", "b@example.org", "c@example.org")
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        config = _config(*recipients, bcc=False, max_retries=1)
        # a: ok; b: the server answers 451 to both of its attempts; c: ok.
        from lfmwatch.digest.send import SmtpSettings, SmtpTransport

        real = SmtpTransport(SmtpSettings.from_env(config))
        orig_send = real.send

        def send(sender, rcpts, data):
            if rcpts == ["b@example.org"]:
                smtp.fail_data("451 4.3.0 try later")
            return orig_send(sender, rcpts, data)

        real.send = send  # type: ignore[method-assign]
        with pytest.raises(NetworkError, match="1 of 3 recipient") as info:
            send_digest(store, config, WEEK, transport=real)
        assert "run `lfmwatch digest --week 2025-W30` again" in str(info.value)
        assert [m.rcpt_tos for m in smtp.messages] == [["a@example.org"], ["c@example.org"]]
        assert store.db["digests"].get(WEEK)["status"] == "partial"
        # Each copy is addressed to its recipient with a stable per-recipient Message-ID.
        first = _parse(smtp.messages[0].data)
        assert first["To"] == "a@example.org" and first["Message-ID"].startswith(f"<lfmwatch-digest.{WEEK}.")
        r = send_digest(store, config, WEEK)
        assert r.status == "sent" and r.sent == 3
        assert [m.rcpt_tos for m in smtp.messages][2:] == [["b@example.org"]]
        assert send_digest(store, config, WEEK).status == "already_sent" and len(smtp.messages) == 3


def test_server_down_is_a_network_error_and_nothing_is_marked_sent(store, monkeypatch):
    from fakes.smtp_server import free_port

    monkeypatch.setenv("LFMWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LFMWATCH_SMTP_PORT", str(free_port()))
    with pytest.raises(NetworkError, match="not served"):
        send_digest(store, _config(max_retries=1), WEEK, sleep=lambda s: None)
    assert [r["status"] for r in store.db["digest_recipients"].rows] == ["failed"]


def test_missing_host_or_recipients(store):
    with pytest.raises(ConfigError, match="LFMWATCH_SMTP_HOST"):
        send_digest(store, _config(), WEEK)
    c = _config()
    c.digest.recipients = []
    with pytest.raises(ConfigError, match="recipients"):
        send_digest(store, c, WEEK)


def test_empty_week_sends_nothing_unless_configured(store, monkeypatch):
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        r = send_digest(store, _config(), "2025-W20")
        assert r.status == "empty" and "nothing new in 2025-W20" in r.line() and smtp.messages == []
        r = send_digest(store, _config(send_empty=True), "2025-W20")
        assert r.status == "sent"
        msg = _parse(smtp.messages[0].data)
        assert "(nothing new)" in msg["Subject"]
        assert "Nothing new this week" in msg.get_body(("plain",)).get_content()


def test_dry_run_and_out_write_files_and_send_nothing(store, monkeypatch, tmp_path):
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        r = send_digest(store, _config(), WEEK, out_dir=tmp_path / "out")
        assert r.status == "written" and [p.name for p in r.files] == [
            f"digest-{WEEK}.eml", f"digest-{WEEK}.html", f"digest-{WEEK}.txt"]
        msg = _parse((tmp_path / "out" / f"digest-{WEEK}.eml").read_bytes())
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        r = send_digest(store, _config(), WEEK, dry_run=True)
        assert r.status == "written" and (Path.cwd() / f"digest-{WEEK}.html").exists()
        assert smtp.messages == [] and store.db["digests"].count == 0


def test_digest_command(store, monkeypatch, tmp_path):
    from lfmwatch.cli import cli

    Path("lfmwatch.toml").write_text('[digest]\nrecipients = ["a@example.org"]\nsmtp_security = "none"\n')
    with SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        res = CliRunner().invoke(cli, ["digest", "--week", WEEK, "--out", str(tmp_path / "o")])
        assert res.exit_code == 0, res.output
        assert "written (3 papers)" in res.output and smtp.messages == []
        res = CliRunner().invoke(cli, ["digest", "--week", WEEK])
        assert res.exit_code == 0 and "sent to 1 recipient" in res.output
        res = CliRunner().invoke(cli, ["digest", "--week", WEEK])
        assert res.exit_code == 0 and "already sent" in res.output
        res = CliRunner().invoke(cli, ["digest", "--week", "2025-W99"])
        assert res.exit_code == 2 and "ISO week" in res.output
        res = CliRunner().invoke(cli, ["digest"])  # the last complete week: nothing in this store
        assert res.exit_code == 0 and "nothing new" in res.output


def test_summaries_appear_when_the_llm_answers_and_vanish_when_it_fails(store, monkeypatch, tmp_path):
    from fakes.openai_fake import OpenAIFake, answer, status

    good = "Adapters are merged by aligning their low-rank factors before averaging them."
    with OpenAIFake(answer(good)) as llm, SmtpFake() as smtp:
        _env(monkeypatch, smtp)
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        config = _config()
        config.summaries.enabled = True
        config.summaries.max_retries = 0
        config.summaries.timeout_seconds = 2
        llm.push(status(500))  # the first paper's summary fails; the other two get one
        r = send_digest(store, config, WEEK)
        assert r.status == "sent" and len(llm.requests) == 3
        text = _parse(smtp.messages[0].data).get_body(("plain",)).get_content()
        assert text.count(good) == 2
        # Week 2: the endpoint is gone; the digest goes out without summaries, nothing fails.
        llm.close()
        upsert_papers(store, [paper_from_record({"id": "2508.00001", "title": "Merging adapters, week two",
                                                 "abstract": "A.", "listed": "2025-07-29"})], source="import")
        store.db["predictions"].insert({"paper_id": "2508.00001", "model_version": "m1", "relevant": 1,
                                        "score": 0.8, "section": "Model Reuse > Model Fusion", "sections": "[]",
                                        "why": "[]", "created": "2025-08-04"})
        r = send_digest(store, config, "2025-W31")
        assert r.status == "sent"
        text = _parse(smtp.messages[1].data).get_body(("plain",)).get_content()
        assert "Merging adapters, week two" in text and "TL;DR" not in text


def test_bad_unsubscribe_address_is_a_config_error(store):
    with pytest.raises(ConfigError, match="list_unsubscribe"):
        send_digest(store, _config(list_unsubscribe="javascript:alert(1)"), WEEK, dry_run=True)
