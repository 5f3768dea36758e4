"""A loopback arXiv API for tests: real HTTP on 127.0.0.1 answering `/api/query` with Atom 1.0 feeds.

Usage::

    from fakes.arxiv_emulator import ArxivEmulator

    with ArxivEmulator() as emu:                      # or: emu = ArxivEmulator().start(); ...; emu.stop()
        emu.add_papers([{"id": "2506.00001", "title": "T", "abstract": "A",
                         "categories": ["cs.LG"], "published": "2025-06-01T10:00:00Z"}])
        monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", emu.url)   # emu.url ends in /api/query
        emu.inject("429", retry_after=0.1)             # the next request gets a 429 with Retry-After: 0.1
        ...
        emu.requests                                   # log: dicts with path, params, status, fault

Paper dicts: `id` (no version) plus optional `version` (default 1), `title`, `abstract`, `authors` (list of names),
`categories` (first = primary unless `primary_category`), `comment`, `journal_ref`, `doi`, `published`
(ISO date-time, or a YYYY-MM-DD date; else `listed` is used) and `updated` (default `published`). A date without a
time gets a deterministic time of day derived from the id, so papers spread over the day. Adding a paper whose id is
known replaces it (that is how a new version appears).

Query subset: `cat:` (with `cs.*` prefix), `all:`/`ti:`/`abs:`/`au:` words or "phrases", bare words (= all:),
`submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]`, `lastUpdatedDate:[.. TO ..]`, `AND`/`OR`/`ANDNOT`, parentheses
(AND/ANDNOT bind tighter than OR); `id_list`; `start`/`max_results` paging (max 2000 per page);
`sortBy` relevance|lastUpdatedDate|submittedDate, `sortOrder`; `opensearch:totalResults`. With `result_limit`
set, pages starting at or beyond it come back empty, like the real API past its limit.

Faults (`inject(kind, count=1, skip=0, when=None, **options)`) form a FIFO queue; the head fault waits `skip`
matching requests, then hits `count` requests. `when(params)` restricts which requests it matches (e.g.
`lambda p: int(p.get("start", 0)) > 0` for "a page in the middle"). Kinds:
`"429"` (option `retry_after`, seconds, header omitted when None), `"503"`, `"500"`, `"status"` (option `status`),
`"stall"` (sleep `seconds`, default 5, before answering normally), `"empty"` (valid feed, no entries),
`"drip"` (the normal answer, `chunk` bytes (default 64) every `interval` seconds (default 0.1): a response that
never stalls long enough for a read timeout yet takes ages in total), `"malformed"` (truncated XML), `"error_feed"` (arXiv's one-entry "Error" feed; option `status`, default 400,
and `message`), `"disconnect"` (close the socket without a response), `"poison"` (the normal answer with entries
rewritten: option `entries` = {pid: {"entry_id": ..., "title": ...}} replaces those papers' <id> / <title> text,
inserted raw, so a non-arXiv id or an invalid XML 1.0 character such as "\x1b" reaches the client as is).
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from fakes._loopback import LoopbackHTTPServer, QuietHandler

MAX_PAGE = 2000
_TOKEN_RE = re.compile(
    r'\(|\)|[A-Za-z_]+:\[[^\]]*\]|[A-Za-z_]+:"[^"]*"|"[^"]*"|[^\s()]+'
)
_ID_RE = re.compile(r"^(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")


@dataclass
class Fault:
    """One queued fault (see the module docstring for kinds and options)."""

    kind: str
    count: int = 1
    skip: int = 0
    when: Callable[[dict[str, str]], bool] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Paper:
    id: str
    version: int
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    primary: str
    comment: str | None
    journal_ref: str | None
    doi: str | None
    published: datetime
    updated: datetime

    @property
    def submitted_key(self) -> str:
        return self.published.strftime("%Y%m%d%H%M")

    @property
    def updated_key(self) -> str:
        return self.updated.strftime("%Y%m%d%H%M")


def _parse_when(value: Any, pid: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if len(text) == 10:
        minute = zlib.crc32(pid.encode()) % 1440  # deterministic time of day from the id
        return datetime.strptime(text, "%Y-%m-%d").replace(hour=minute // 60, minute=minute % 60, tzinfo=UTC)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _to_paper(d: dict[str, Any]) -> _Paper:
    pid = d["id"]
    published = _parse_when(d.get("published"), pid) or _parse_when(d.get("listed"), pid)
    if published is None:
        raise ValueError(f"paper {pid}: needs published or listed")
    categories = list(d.get("categories") or [])
    primary = d.get("primary_category") or (categories[0] if categories else "cs.LG")
    if primary not in categories:
        categories.insert(0, primary)
    return _Paper(
        id=pid,
        version=int(d.get("version") or 1),
        title=d.get("title") or "",
        abstract=d.get("abstract") or "",
        authors=list(d.get("authors") or []),
        categories=categories,
        primary=primary,
        comment=d.get("comment"),
        journal_ref=d.get("journal_ref"),
        doi=d.get("doi"),
        published=published,
        updated=_parse_when(d.get("updated"), pid) or published,
    )


class QueryError(ValueError):
    """The search_query cannot be parsed (the emulator answers with an error feed, like arXiv)."""


# --- query language ---------------------------------------------------------------------------------


def _range(value: str) -> tuple[str, str]:
    m = re.fullmatch(r"\[\s*(\d{8,14})\s+TO\s+(\d{8,14})\s*\]", value)
    if not m:
        raise QueryError(f"bad date range {value!r}")
    lo, hi = m.group(1)[:12], m.group(2)[:12]
    return lo.ljust(12, "0"), hi + "2359"[: 12 - len(hi)] if len(hi) < 12 else hi


def _text_pred(field_name: str, value: str) -> Callable[[_Paper], bool]:
    phrase = value.strip('"').lower()

    def get(p: _Paper) -> str:
        if field_name == "ti":
            return p.title.lower()
        if field_name == "abs":
            return p.abstract.lower()
        if field_name == "au":
            return " ".join(p.authors).lower()
        return f"{p.title} {p.abstract} {' '.join(p.authors)} {p.comment or ''}".lower()

    return lambda p: phrase in get(p)


def _term(token: str) -> Callable[[_Paper], bool]:
    name, sep, value = token.partition(":")
    if not sep:
        return _text_pred("all", token)
    name = name.strip()
    if name == "cat":
        if value.endswith("*"):
            prefix = value[:-1]
            return lambda p: any(c.startswith(prefix) for c in p.categories)
        return lambda p: value in p.categories
    if name in ("submittedDate", "lastUpdatedDate"):
        lo, hi = _range(value)
        if name == "submittedDate":
            return lambda p: lo <= p.submitted_key <= hi
        return lambda p: lo <= p.updated_key <= hi
    if name in ("all", "ti", "abs", "au"):
        return _text_pred(name, value)
    if name == "id":
        return lambda p: p.id == value.split("v")[0]
    raise QueryError(f"unknown field {name!r}")


def compile_query(query: str) -> Callable[[_Paper], bool]:
    """Compile an arXiv search_query (the subset above) into a predicate."""
    tokens = _TOKEN_RE.findall(query)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise QueryError("unexpected end of query")
        pos += 1
        return tokens[pos - 1]

    def atom() -> Callable[[_Paper], bool]:
        tok = take()
        if tok == "(":
            inner = disjunction()
            if take() != ")":
                raise QueryError("missing )")
            return inner
        if tok in (")", "AND", "OR", "ANDNOT"):
            raise QueryError(f"unexpected {tok!r}")
        return _term(tok)

    def conjunction() -> Callable[[_Paper], bool]:
        left = atom()
        while peek() in ("AND", "ANDNOT"):
            op = take()
            right = atom()
            if op == "AND":
                left = (lambda a, b: lambda p: a(p) and b(p))(left, right)
            else:
                left = (lambda a, b: lambda p: a(p) and not b(p))(left, right)
        return left

    def disjunction() -> Callable[[_Paper], bool]:
        left = conjunction()
        while peek() == "OR":
            take()
            right = conjunction()
            left = (lambda a, b: lambda p: a(p) or b(p))(left, right)
        return left

    if not tokens:
        return lambda p: True
    pred = disjunction()
    if pos != len(tokens):
        raise QueryError(f"unexpected {tokens[pos]!r}")
    return pred


# --- feed rendering ---------------------------------------------------------------------------------

_FEED_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
    'xmlns:arxiv="http://arxiv.org/schemas/atom">\n'
    '  <id>https://arxiv.org/api/emulator</id>\n'
    "  <title>arXiv Query: {title}</title>\n"
    "  <updated>{now}</updated>\n"
    '  <link href="https://arxiv.org/api/query" type="application/atom+xml"/>\n'
    "  <opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>\n"
    "  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
    "  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_entry(p: _Paper) -> str:
    """One Atom <entry> the way arXiv writes it."""
    vid = f"{p.id}v{p.version}"
    parts = [
        "  <entry>",
        f"    <id>http://arxiv.org/abs/{vid}</id>",
        f"    <title>{escape(p.title)}</title>",
        f"    <updated>{_iso(p.updated)}</updated>",
        f"    <link href=\"https://arxiv.org/abs/{vid}\" rel=\"alternate\" type=\"text/html\"/>",
        f"    <link href=\"https://arxiv.org/pdf/{vid}\" rel=\"related\" type=\"application/pdf\" title=\"pdf\"/>",
        f"    <summary>{escape(p.abstract)}</summary>",
    ]
    parts += [f'    <category term={quoteattr(c)} scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories]
    parts.append(f"    <published>{_iso(p.published)}</published>")
    if p.comment:
        parts.append(f"    <arxiv:comment>{escape(p.comment)}</arxiv:comment>")
    if p.journal_ref:
        parts.append(f"    <arxiv:journal_ref>{escape(p.journal_ref)}</arxiv:journal_ref>")
    if p.doi:
        parts.append(f"    <arxiv:doi>{escape(p.doi)}</arxiv:doi>")
    parts.append(f'    <arxiv:primary_category term={quoteattr(p.primary)} scheme="http://arxiv.org/schemas/atom"/>')
    parts += [f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in p.authors]
    parts.append("  </entry>")
    return "\n".join(parts) + "\n"


def _poison(body: str, opt: dict[str, Any]) -> str:
    """`body` with the entries of `opt['entries']` ({pid: {"entry_id": raw, "title": raw}}) rewritten."""
    out = []
    for chunk in body.split("  <entry>"):
        for pid, change in opt["entries"].items():
            if f"<id>http://arxiv.org/abs/{pid}v" not in chunk:
                continue
            if "entry_id" in change:
                chunk = re.sub(r"<id>[^<]*</id>", lambda _, c=change: f"<id>{c['entry_id']}</id>", chunk, count=1)
            if "title" in change:
                chunk = re.sub(r"<title>[^<]*</title>", lambda _, c=change: f"<title>{c['title']}</title>", chunk,
                               count=1)
        out.append(chunk)
    return "  <entry>".join(out)


def render_feed(entries: Iterable[str], *, total: int, start: int, per_page: int, title: str = "") -> str:
    """A whole Atom feed page."""
    head = _FEED_HEAD.format(title=escape(title), now=_iso(datetime.now(UTC)), per_page=per_page, total=total,
                             start=start)
    return head + "".join(entries) + "</feed>\n"


def render_error_feed(message: str) -> str:
    """arXiv's error response: a feed with one entry titled "Error"."""
    slug = re.sub(r"\W+", "_", message)
    entry = (
        "  <entry>\n"
        f"    <id>http://arxiv.org/api/errors#{escape(slug)}</id>\n"
        "    <title>Error</title>\n"
        f"    <summary>{escape(message)}</summary>\n"
        f"    <updated>{_iso(datetime.now(UTC))}</updated>\n"
        f"    <link href=\"http://arxiv.org/api/errors#{escape(slug)}\" rel=\"alternate\" type=\"text/html\"/>\n"
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n"
        "  </entry>\n"
    )
    return render_feed([entry], total=1, start=0, per_page=1)


# --- the server -------------------------------------------------------------------------------------


class ArxivEmulator:
    """The loopback arXiv API (see the module docstring)."""

    def __init__(self, papers: Iterable[dict[str, Any]] = (), *, result_limit: int | None = None) -> None:
        self._papers: dict[str, _Paper] = {}
        self._entries: dict[str, str] = {}
        self._cache: dict[tuple[str, str, str, str], list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.result_limit = result_limit
        self._http = LoopbackHTTPServer()
        self.add_papers(papers)

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> ArxivEmulator:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        emu = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                emu._handle(self)

        self._http.start(Handler, "arxiv-emulator")
        return self

    def stop(self) -> None:
        """Stop serving (stalled responses are released)."""
        self._stop.set()
        self._http.stop()

    def __enter__(self) -> ArxivEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The query endpoint, e.g. http://127.0.0.1:PORT/api/query."""
        assert self._http.running, "start() the emulator first"
        return f"http://127.0.0.1:{self._http.port}/api/query"

    # data ------------------------------------------------------------------------------------------
    def add_papers(self, papers: Iterable[dict[str, Any]]) -> None:
        """Serve these papers (a known id is replaced: a new version)."""
        with self._lock:
            for d in papers:
                p = _to_paper(d)
                self._papers[p.id] = p
                self._entries[p.id] = render_entry(p)
            self._cache.clear()

    def remove_papers(self, ids: Iterable[str]) -> None:
        """Stop serving these ids."""
        with self._lock:
            for pid in ids:
                self._papers.pop(pid, None)
                self._entries.pop(pid, None)
            self._cache.clear()

    def inject(self, kind: str, count: int = 1, *, skip: int = 0,
               when: Callable[[dict[str, str]], bool] | None = None, **options: Any) -> Fault:
        """Queue a fault; it waits `skip` matching requests and then hits `count` of them."""
        fault = Fault(kind, count=count, skip=skip, when=when, options=options)
        with self._lock:
            self.faults.append(fault)
        return fault

    @property
    def query_requests(self) -> list[dict[str, Any]]:
        """The logged requests to /api/query."""
        return [r for r in self.requests if r["path"] == "/api/query"]

    # request handling ------------------------------------------------------------------------------
    def _next_fault(self, params: dict[str, str]) -> Fault | None:
        with self._lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            if fault.when is not None and not fault.when(params):
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.count -= 1
            if fault.count <= 0:
                self.faults.pop(0)
            return fault

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record: dict[str, Any] = {"path": parts.path, "params": params, "status": None, "fault": None}
        with self._lock:
            self.requests.append(record)
        if parts.path != "/api/query":
            self._send(h, 404, "not found", record, ctype="text/plain")
            return
        fault = self._next_fault(params)
        if fault is not None:
            record["fault"] = fault.kind
            if self._apply_fault(h, fault, params, record):
                return
        try:
            status, body = self._answer(params)
        except QueryError as exc:
            status, body = 400, render_error_feed(str(exc))
        self._send(h, status, body, record)

    def _apply_fault(self, h: BaseHTTPRequestHandler, fault: Fault, params: dict[str, str],
                     record: dict[str, Any]) -> bool:
        """Answer with the fault; False when the request should then be answered normally (stall)."""
        kind, opt = fault.kind, fault.options
        if kind == "429":
            headers = {} if opt.get("retry_after") is None else {"Retry-After": str(opt["retry_after"])}
            self._send(h, 429, "Rate exceeded.", record, ctype="text/plain", headers=headers)
        elif kind in ("503", "500"):
            self._send(h, int(kind), "Service unavailable", record, ctype="text/plain")
        elif kind == "status":
            self._send(h, int(opt.get("status", 500)), "error", record, ctype="text/plain")
        elif kind == "stall":
            self._stop.wait(float(opt.get("seconds", 5.0)))
            return False
        elif kind == "drip":
            status, body = self._answer(params)
            self._send(h, status, body, record, chunk=int(opt.get("chunk", 64)),
                       interval=float(opt.get("interval", 0.1)))
        elif kind == "empty":
            start = int(params.get("start") or 0)
            total = len(self._matches(params))
            self._send(h, 200, render_feed([], total=total, start=start, per_page=0), record)
        elif kind == "malformed":
            status, body = self._answer(params)
            cut = body[: max(200, len(body) // 2)]  # a truncated document: not well-formed XML
            self._send(h, 200, cut, record)
        elif kind == "error_feed":
            msg = opt.get("message", "incorrect id format for 1234.5678")
            self._send(h, int(opt.get("status", 400)), render_error_feed(msg), record)
        elif kind == "poison":
            status, body = self._answer(params)
            self._send(h, status, _poison(body, opt), record)
        elif kind == "disconnect":
            record["status"] = 0
            h.close_connection = True
            h.connection.close()
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        return True

    def _matches(self, params: dict[str, str]) -> list[str]:
        query = params.get("search_query", "")
        id_list = params.get("id_list", "")
        sort_by = params.get("sortBy") or "relevance"
        order = params.get("sortOrder") or "descending"
        key = (query, id_list, sort_by, order)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            papers = list(self._papers.values())
        if id_list:
            wanted = []
            for raw in id_list.split(","):
                m = _ID_RE.match(raw.strip())
                if not m:
                    raise QueryError(f"incorrect id format for {raw.strip()}")
                wanted.append(m.group(1))
            by_id = {p.id: p for p in papers}
            papers = [by_id[i] for i in dict.fromkeys(wanted) if i in by_id]
        if query:
            pred = compile_query(query)
            papers = [p for p in papers if pred(p)]
        if sort_by == "submittedDate":
            papers.sort(key=lambda p: (p.published, p.id), reverse=order == "descending")
        elif sort_by == "lastUpdatedDate":
            papers.sort(key=lambda p: (p.updated, p.id), reverse=order == "descending")
        ids = [p.id for p in papers]
        with self._lock:
            self._cache[key] = ids
        return ids

    def _answer(self, params: dict[str, str]) -> tuple[int, str]:
        try:
            start = int(params.get("start") or 0)
            per_page = min(int(params.get("max_results") or 10), MAX_PAGE)
        except ValueError as exc:
            raise QueryError("start and max_results must be integers") from exc
        if start < 0 or per_page < 0:
            raise QueryError("start and max_results must not be negative")
        ids = self._matches(params)
        page = ids[start : start + per_page]
        if self.result_limit is not None and start >= self.result_limit:
            page = []
        with self._lock:
            entries = [self._entries[i] for i in page if i in self._entries]
        title = params.get("search_query", "") or params.get("id_list", "")
        return 200, render_feed(entries, total=len(ids), start=start, per_page=per_page, title=title)

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: str, record: dict[str, Any], *,
              ctype: str = "application/atom+xml; charset=utf-8", headers: dict[str, str] | None = None,
              chunk: int = 0, interval: float = 0.0) -> None:
        data = body.encode("utf-8")
        record["status"] = status
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            if chunk <= 0:
                h.wfile.write(data)
            else:
                for i in range(0, len(data), chunk):
                    h.wfile.write(data[i : i + chunk])
                    h.wfile.flush()
                    if self._stop.wait(interval):
                        return
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
