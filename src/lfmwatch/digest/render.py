"""The digest as text, HTML and a multipart e-mail message (pure: Jinja2 templates and stdlib `email`).

Paper text is untrusted. Every title, author, section and summary goes through `inert`: one line, and any
URL, bare domain or @-mention broken with an invisible WORD JOINER so mail clients cannot turn it into a
link; the HTML template autoescapes on top. The only links are the ones built here (arXiv abstract pages
for well-formed ids, the configured unsubscribe address).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lfmwatch.textsafe import inert, one_line

if TYPE_CHECKING:
    import jinja2

    from lfmwatch.config import Config
    from lfmwatch.digest.content import Digest

def _date_range(digest: Digest) -> str:
    a, b = digest.start, digest.end
    if a.month == b.month:
        return f"{a.day}–{b.day} {b:%B %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%B} – {b.day} {b:%B %Y}"
    return f"{a.day} {a:%B %Y} – {b.day} {b:%B %Y}"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lfmwatch", "templates"),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["inert"] = inert
    return env


def _context(digest: Digest, config: Config) -> dict[str, Any]:
    unsubscribe = config.digest.list_unsubscribe.strip()
    return {
        "d": digest,
        "counts": digest.counts(),
        "date_range": _date_range(digest),
        "title": config.digest.subject,
        "repo": config.target.repo,
        "unsubscribe": unsubscribe if unsubscribe.startswith(("mailto:", "https:", "http:")) else "",
        "send_empty": config.digest.send_empty,
    }


def render_text(digest: Digest, config: Config) -> str:
    """The plain-text part."""
    return _env().get_template("digest.txt.j2").render(**_context(digest, config))


def render_html(digest: Digest, config: Config) -> str:
    """The HTML part (tables and inline CSS only; no remote images, scripts or style sheets)."""
    return _env().get_template("digest.html.j2").render(**_context(digest, config))


def subject_for(digest: Digest, config: Config) -> str:
    """Subject: the configured prefix and the ISO week (and a note when the week is empty)."""
    base = one_line(config.digest.subject) or "lfmwatch digest"
    return f"{base} — {digest.week}" + (" (nothing new)" if digest.empty else "")


def message_id(week: str, config: Config, recipient: str | None = None) -> str:
    """A Message-ID stable per week (and per recipient when each gets an own copy): re-sends are recognisable."""
    domain = parseaddr(config.digest.sender)[1].rpartition("@")[2] or "lfmwatch.localhost"
    domain = re.sub(r"[^A-Za-z0-9.\-]", "", domain) or "lfmwatch.localhost"
    local = f"lfmwatch-digest.{week}"
    if recipient:
        local += "." + hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]
    return f"<{local}@{domain}>"


def build_message(digest: Digest, config: Config, *, text: str, html: str, now: datetime,
                  to: str | None = None) -> EmailMessage:
    """The multipart/alternative message; `to` set: addressed to that recipient, else To is the sender (Bcc)."""
    msg = EmailMessage()
    msg["Subject"] = subject_for(digest, config)
    msg["From"] = config.digest.sender
    # Bcc delivery: the recipients are only in the SMTP envelope, never in a header.
    msg["To"] = to or config.digest.sender
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(digest.week, config, to)
    unsubscribe = config.digest.list_unsubscribe.strip()
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        if unsubscribe.startswith("https:"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Lfmwatch-Week"] = digest.week
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
