"""Sending the weekly digest through smtplib: STARTTLS or implicit TLS, AUTH, per-recipient state, resume.

Idempotency lives in the store: `digests` says whether a week was sent, `digest_recipients` which recipients
were served (sent, or refused for good). A run that fails half-way leaves the rest unserved; the next run
sends only to them. Transient errors (connection trouble, 4xx) are retried with exponential backoff;
permanent recipient refusals (5xx) are recorded and never retried.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfmwatch.errors import ConfigError, InputError, NetworkError
from lfmwatch.store.mail import (
    digest_row,
    mark_recipient,
    recipient_key,
    save_digest,
    scrub_addresses,
    served_recipients,
    set_digest_status,
)

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.digest.content import Digest
    from lfmwatch.store.db import Store

log = logging.getLogger("lfmwatch.digest.content")

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass
class DigestResult:
    """What `send_digest` did for a week."""

    week: str
    status: str  # sent | partial | already_sent | empty | written
    papers: int = 0
    sent: int = 0
    refused: int = 0
    failed: int = 0
    files: list[Path] = field(default_factory=list)
    message_id: str = ""
    reason: str = ""
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal and the run log."""
        if self.status == "sent":
            extra = f"; {self.refused} recipient(s) refused for good" if self.refused else ""
            return f"digest {self.week} sent to {self.sent} recipient(s) ({self.papers} papers){extra}"
        if self.status == "written":
            note = f" ({self.reason})" if self.reason else ""
            return f"digest {self.week} written ({self.papers} papers), nothing sent{note}"
        return self.reason or f"digest {self.week}: {self.status}"


@dataclass
class SmtpSettings:
    """Where and how to connect; host/port/user from LFMWATCH_SMTP_*, the password only from the environment."""

    host: str
    port: int
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, config: Config) -> SmtpSettings:
        """Read LFMWATCH_SMTP_HOST/PORT/USER/PASSWORD; raise ConfigError saying what to set."""
        host = os.environ.get("LFMWATCH_SMTP_HOST") or ""
        security = config.digest.smtp_security
        if not host:
            raise ConfigError(
                "no mail server configured for the digest",
                "set LFMWATCH_SMTP_HOST (and LFMWATCH_SMTP_PORT, LFMWATCH_SMTP_USER, LFMWATCH_SMTP_PASSWORD), "
                "or write the files with `lfmwatch digest --out DIR`",
            )
        raw_port = os.environ.get("LFMWATCH_SMTP_PORT") or ""
        try:
            port = int(raw_port) if raw_port else DEFAULT_PORTS[security]
        except ValueError as exc:
            raise ConfigError(f"LFMWATCH_SMTP_PORT must be a port number, got {raw_port!r}") from exc
        user = os.environ.get("LFMWATCH_SMTP_USER") or None
        password = os.environ.get("LFMWATCH_SMTP_PASSWORD") or None
        if user and not password:
            raise ConfigError("LFMWATCH_SMTP_USER is set but LFMWATCH_SMTP_PASSWORD is not",
                              "export the password in LFMWATCH_SMTP_PASSWORD (never in lfmwatch.toml)")
        if password and not user:
            raise ConfigError("LFMWATCH_SMTP_PASSWORD is set but LFMWATCH_SMTP_USER is not",
                              "export the login name in LFMWATCH_SMTP_USER")
        if password and security == "none" and not _is_loopback(host):
            raise ConfigError(
                f"refusing to send the SMTP password to {host} without TLS",
                "set digest.smtp_security = \"starttls\" or \"tls\" in lfmwatch.toml",
            )
        return cls(host, port, security, user, password, config.digest.timeout_seconds)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpTransport:
    """One SMTP session (connect, TLS, AUTH lazily); `send` returns the refused recipients like smtplib."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        # Verifies the server certificate against the system store (or SSL_CERT_FILE / SSL_CERT_DIR).
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ConfigError(f"{s.host}:{s.port} does not offer STARTTLS",
                                      "set digest.smtp_security to \"tls\" (implicit TLS, port 465) or check the port")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def send(self, sender: str, recipients: list[str], data: bytes) -> dict[str, tuple[int, bytes]]:
        """Send one message to `recipients`; returns those refused (when at least one was accepted)."""
        if self._smtp is None:
            self._smtp = self._open()
        return self._smtp.sendmail(sender, recipients, data)

    def reset(self) -> None:
        """Drop the connection (after an error); the next send reconnects."""
        if self._smtp is not None:
            _quietly_close(self._smtp)
            self._smtp = None

    def close(self) -> None:
        """QUIT politely."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                _quietly_close(self._smtp)
                self._smtp = None


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


# --- state -------------------------------------------------------------------------------------------


RECIPIENTS_ENV = "LFMWATCH_DIGEST_RECIPIENTS"  # addresses, separated by commas, semicolons or whitespace
RECIPIENTS_FILE_ENV = "LFMWATCH_DIGEST_RECIPIENTS_FILE"  # a file of addresses, one per line, '#' comments


def digest_recipients(config: Config) -> tuple[list[str], str]:
    """The subscribers' addresses and where they came from: the environment (a secret) first, then a private file,
    then digest.recipients in the config (warned about: a committed lfmwatch.toml is public)."""
    source, raws = "", []
    if os.environ.get(RECIPIENTS_ENV, "").strip():
        source, raws = RECIPIENTS_ENV, re.split(r"[,;\s]+", os.environ[RECIPIENTS_ENV].strip())
    elif os.environ.get(RECIPIENTS_FILE_ENV, "").strip():
        path = Path(os.environ[RECIPIENTS_FILE_ENV].strip())
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{RECIPIENTS_FILE_ENV}: cannot read {path}: {exc}",
                              "point it at a readable UTF-8 file with one address per line") from exc
        source, raws = RECIPIENTS_FILE_ENV, [ln.split("#", 1)[0].strip() for ln in lines]
    elif config.digest.recipients:
        source, raws = "digest.recipients", list(config.digest.recipients)
        log.warning("digest.recipients lists addresses in %s, which the bot commits to its repository (often public):"
                    " move them to the %s secret", config.source or "the configuration", RECIPIENTS_ENV)
    out: dict[str, str] = {}
    for raw in (r for r in raws if r):
        addr = parseaddr(raw)[1].strip()
        if not addr or "@" not in addr or any(c in raw for c in "\r\n"):
            # The value itself is not echoed: it may be a subscriber's (misspelt) address.
            raise ConfigError(f"{source}: an entry is not an e-mail address ({recipient_key(raw)})",
                              "list plain addresses, e.g. reader@example.org")
        out.setdefault(addr.lower(), addr)
    return list(out.values()), source


def _recipients(config: Config) -> list[str]:
    return digest_recipients(config)[0]


# --- files -------------------------------------------------------------------------------------------


def write_files(out_dir: Path, week: str, msg: EmailMessage, text: str, html: str) -> list[Path]:
    """Write digest-<week>.eml, .html and .txt into `out_dir` (created when missing)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / f"digest-{week}.{ext}" for ext in ("eml", "html", "txt")]
        paths[0].write_bytes(msg.as_bytes())
        paths[1].write_text(html, encoding="utf-8")
        paths[2].write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the digest files to {out_dir}: {exc.strerror or exc}",
                         "choose a writable directory with --out") from exc
    return paths


# --- sending -----------------------------------------------------------------------------------------


def send_digest(store: Store, config: Config, week: str, *, dry_run: bool = False, out_dir: Path | str | None = None,
                transport: Any = None, now: datetime | None = None, llm: Any = None,
                sleep: Callable[[float], None] = time.sleep) -> DigestResult:
    """Build the digest of `week`, then write it (dry_run / out_dir) or send it once to every recipient.

    With summaries enabled (and not a dry run) the shown papers get their summaries first, within the
    summaries budget; an unreachable LLM only means a digest without them. Raises NetworkError (after
    recording what was served) when some recipients could not be reached, so a rerun resumes with them;
    ConfigError when the mail server or its login is misconfigured.
    """
    from lfmwatch.digest.content import build_digest, parse_week
    from lfmwatch.digest.render import build_message, message_id, render_html, render_text

    try:
        week = parse_week(week)
    except ValueError as exc:
        raise InputError(str(exc), "pass --week YYYY-Www") from exc
    unsubscribe = config.digest.list_unsubscribe.strip()
    if unsubscribe and (not unsubscribe.startswith(("mailto:", "https://", "http://")) or any(c in unsubscribe for c in "<>\r\n ")):
        raise ConfigError(f"digest.list_unsubscribe must be a mailto: or https:// address, got {unsubscribe!r}",
                          "e.g. list_unsubscribe = \"mailto:lfm-digest-unsubscribe@example.org\"")
    now = now or datetime.now(UTC)
    previous = digest_row(store, week)
    already = previous is not None and previous["status"] == "sent"
    writing = dry_run or out_dir is not None
    if already and not writing and previous is not None:
        return DigestResult(week, "already_sent", papers=previous.get("papers") or 0,
                            message_id=previous.get("message_id") or "",
                            reason=f"digest {week} was already sent ({previous.get('sent_at') or 'earlier'}); "
                                   "nothing to do")

    digest = build_digest(store, week, config)
    if config.summaries.enabled and not dry_run and not digest.empty:
        missing = [p.id for a in digest.areas for sec in a.sections for p in sec.papers if not p.summary]
        if missing and _summarize(store, config, missing, llm):
            digest = build_digest(store, week, config)
    text, html = render_text(digest, config), render_html(digest, config)
    result = DigestResult(week, "written", papers=digest.shown, message_id=message_id(week, config))

    if writing:
        msg = build_message(digest, config, text=text, html=html, now=now)
        result.files = write_files(Path(out_dir) if out_dir is not None else Path("."), week, msg, text, html)
        if already:
            result.reason = "already sent earlier; files only"
        elif digest.empty:
            result.reason = "nothing new this week" + ("" if config.digest.send_empty else
                                                      "; a real run would not send it: digest.send_empty = false")
        return result

    if digest.empty and not config.digest.send_empty:
        save_digest(store, week, "empty")
        return DigestResult(week, "empty", reason=f"nothing new in {week}: no relevant paper and nothing merged; "
                                                  "not sending (digest.send_empty = false)")

    recipients = _recipients(config)
    if not recipients:
        raise ConfigError("the digest has no recipients",
                          f"set the {RECIPIENTS_ENV} secret (addresses separated by commas) or {RECIPIENTS_FILE_ENV}, "
                          "or write the files with --out DIR")
    with store.lock("digest"):
        return _deliver(store, config, digest, recipients, text, html, now, result,
                        transport or SmtpTransport(SmtpSettings.from_env(config)), sleep)


def _summarize(store: Store, config: Config, ids: list[str], llm: Any) -> bool:
    """Summaries for the digest's papers; optional, so any failure only costs the digest its summaries."""
    from lfmwatch.adapters.llm import summarize_papers
    from lfmwatch.errors import LfmwatchError

    try:
        result = summarize_papers(store, config, ids, client=llm)
    except LfmwatchError as exc:
        log.warning("digest without summaries: %s", exc)
        return False
    log.info("%s", result.line())
    return result.ok > 0


def _deliver(store: Store, config: Config, digest: Digest, recipients: list[str], text: str, html: str,
             now: datetime, result: DigestResult, transport: Any, sleep: Callable[[float], None]) -> DigestResult:
    from lfmwatch.digest.render import build_message, subject_for

    week = digest.week
    row = digest_row(store, week)
    if row is not None and row["status"] == "sent":  # another process finished it while we built ours
        result.status, result.reason = "already_sent", f"digest {week} was already sent; nothing to do"
        return result
    save_digest(store, week, "building", subject=subject_for(digest, config), message_id=result.message_id,
                papers=digest.shown, created=(row or {}).get("created"))
    served = served_recipients(store, week)
    pending = [r for r in recipients if recipient_key(r) not in served]
    sender = parseaddr(config.digest.sender)[1] or config.digest.sender
    batches = [pending] if config.digest.bcc else [[r] for r in pending]
    try:
        for batch in batches:
            if not batch:
                continue
            to = None if config.digest.bcc else batch[0]
            data = build_message(digest, config, text=text, html=html, now=now, to=to).as_bytes(policy=SMTP_POLICY)
            _send_batch(store, config, week, transport, sender, batch, data, result, sleep)
    finally:
        transport.close()
    served = served_recipients(store, week)
    result.sent = sum(1 for s in served.values() if s == "sent")
    result.refused = sum(1 for s in served.values() if s == "refused")
    unserved = [r for r in recipients if recipient_key(r) not in served]
    if unserved:
        set_digest_status(store, week, "partial")
        result.status, result.failed = "partial", len(unserved)
        raise NetworkError(
            f"digest {week}: {len(unserved)} of {len(recipients)} recipient(s) not served ({'; '.join(result.errors[:3])})",
            f"check the mail server, then run `lfmwatch digest --week {week}` again: it sends only to those",
        )
    set_digest_status(store, week, "sent")
    result.status = "sent"
    log.debug("digest %s sent to %d recipient(s), %d refused", week, result.sent, result.refused)
    return result


def _send_batch(store: Store, config: Config, week: str, transport: Any, sender: str, batch: list[str],
                data: bytes, result: DigestResult, sleep: Callable[[float], None]) -> None:
    """Deliver one message to `batch`, retrying transient failures; record every recipient's outcome."""
    todo = list(batch)
    last_error = ""
    for attempt in range(config.digest.max_retries + 1):
        if attempt:
            sleep(config.digest.backoff_seconds * 2 ** (attempt - 1))
        try:
            refused = transport.send(sender, todo, data)
        except smtplib.SMTPAuthenticationError as exc:
            raise ConfigError(
                f"the mail server refused the login ({exc.smtp_code})",
                "check LFMWATCH_SMTP_USER and LFMWATCH_SMTP_PASSWORD",
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ConfigError(f"the mail server does not support what we asked: {exc}",
                              "check digest.smtp_security and the port (AUTH usually needs TLS)") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPResponseException as exc:
            transport.reset()
            last_error = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                continue
            break  # a permanent refusal of the message itself: retrying now would be refused again
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, refused connections, TLS
            transport.reset()
            last_error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise NetworkError(f"TLS certificate of the mail server not trusted: {exc.verify_message}",
                                   "check LFMWATCH_SMTP_HOST; for a private CA set SSL_CERT_FILE") from exc
            continue
        retry = []
        for r in todo:
            if r in refused:
                code, msg = refused[r]
                if 400 <= code < 500:
                    retry.append(r)
                    last_error = f"{code} {_decode(msg)}"
                else:
                    mark_recipient(store, week, r, "refused", f"{code} {_decode(msg)}")
                    result.errors.append(f"{recipient_key(r)} refused: {code}")
            else:
                mark_recipient(store, week, r, "sent")
        todo = retry
        if not todo:
            return
    for r in todo:
        mark_recipient(store, week, r, "failed", last_error[:300])
    result.errors.append(scrub_addresses(last_error[:200]) or "")


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
