"""The arXiv API adapter: the real `arxiv.Client` with timeouts, bounded retries, backoff and strict feed checks.

`arxiv.Client` paginates and builds `Result`s, but sets no HTTP timeout, retries without backoff, ignores
Retry-After and turns a malformed or error feed into "no results". `_Client` overrides its page fetch
(`_parse_feed`) so that every request goes through `ArxivSource._fetch_page`, which fixes all of that.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import arxiv
import requests
from arxiv import _feed
from lxml import etree

from lfmwatch.errors import NetworkError
from lfmwatch.store.papers import RecordError, paper_from_result, split_id

if TYPE_CHECKING:
    from lfmwatch.config import Config

log = logging.getLogger(__name__)

_USER_AGENT = f"lfmwatch (arxiv.py/{arxiv.__version__}; https://github.com/ruthless-man/Awesome-Learn-from-Model)"
_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
_TOTAL_TIMEOUT_FACTOR = 2.0  # a whole response may take this many `timeout`s; each read at most one
_MAX_RETRY_AFTER = 600.0  # a server asking for longer than this is down for the day: give up and say so


class _Retryable(Exception):
    """A failure worth another try (429, 5xx, timeout, truncated or empty page)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class SourceStats:
    """What the source did: requests, retries and where the time went."""

    requests: int = 0
    retries: int = 0
    http_seconds: float = 0.0
    parse_seconds: float = 0.0
    convert_seconds: float = 0.0  # arxiv.Result -> paper dict
    skipped_entries: int = 0
    bad_entries: list[tuple[str, str]] = field(default_factory=list)  # (entry id, why) skipped, in order
    pauses: list[float] = field(default_factory=list)  # backoff pauses taken, in seconds


class _Client(arxiv.Client):
    """arxiv.Client whose page fetch is ArxivSource._fetch_page (timeouts, retries, strict parsing)."""

    def __init__(self, source: ArxivSource) -> None:
        super().__init__(page_size=source.page_size, delay_seconds=source.delay_seconds, num_retries=0)
        self._source = source
        sep = "&" if "?" in source.api_url else "?"
        self.query_url_format = source.api_url + sep + "{}"

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> _feed.ParsedFeed:
        return self._source._fetch_page(self._session, url, first_page)


class ResultStream:
    """An iterator of paper dicts; `.total` is the feed's opensearch:totalResults once the first page arrived."""

    def __init__(self, source: ArxivSource, search: arxiv.Search) -> None:
        self._source = source
        self._search = search
        self._it: Iterator[Any] | None = None
        self.total: int | None = None

    def __iter__(self) -> ResultStream:
        return self

    def __next__(self) -> dict[str, Any]:
        # The source reports the first page's header to whichever stream is advancing now.
        self._source._on_header = self._header
        if self._it is None:
            self._it = self._source._client.results(self._search)
        while True:
            result = next(self._it)
            t0 = time.perf_counter()
            try:
                paper = paper_from_result(result)
            except RecordError as exc:  # one poisoned entry (a non-arXiv id, say): skipped and reported
                self._source._bad_entry(str(getattr(result, "entry_id", "") or "?"), str(exc))
                continue
            finally:
                self._source.stats.convert_seconds += time.perf_counter() - t0
            return paper

    def _header(self, total: int) -> None:
        if self.total is None:
            self.total = total


class ArxivSource:
    """Polite access to the arXiv API query endpoint; yields paper dicts (see lfmwatch.store.papers)."""

    def __init__(
        self,
        api_url: str,
        *,
        delay_seconds: float = 3.0,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: float = 2.0,
        page_size: int = 200,
    ) -> None:
        self.api_url = api_url
        self.delay_seconds = delay_seconds
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.page_size = page_size
        self.stats = SourceStats()
        self._last_request: float | None = None
        self._on_header: Any = None
        self._client = _Client(self)

    @classmethod
    def from_config(cls, config: Config) -> ArxivSource:
        """Build the source from `config.arxiv.*` and `config.arxiv_api_url` (LFMWATCH_ARXIV_API_URL)."""
        a = config.arxiv
        return cls(
            config.arxiv_api_url,
            delay_seconds=a.delay_seconds,
            timeout=a.timeout_seconds,
            max_retries=a.max_retries,
            backoff=a.backoff_seconds,
            page_size=a.page_size,
        )

    def search(
        self,
        query: str,
        max_results: int | None = None,
        *,
        sort_by: str = "submittedDate",
        sort_order: str = "ascending",
    ) -> ResultStream:
        """Stream the papers matching an arXiv query (`.total` on the returned stream after the first item)."""
        search = arxiv.Search(
            query=query,
            max_results=max_results,
            sort_by=arxiv.SortCriterion(sort_by),
            sort_order=arxiv.SortOrder(sort_order),
        )
        return ResultStream(self, search)

    def fetch_ids(self, ids: Sequence[str], batch: int = 100) -> list[dict[str, Any]]:
        """Fetch papers by arXiv id (versionless ids give the latest version); unknown or invalid ids are absent."""
        wanted: dict[str, str] = {}  # versionless id -> what to ask for; a bare id (latest version) wins
        for raw in ids:
            try:
                pid, version = split_id(raw)
            except RecordError:
                log.warning("skipping invalid arXiv id %r", raw)
                continue
            if version is None or pid not in wanted:
                wanted[pid] = f"{pid}v{version}" if version else pid
        clean = list(wanted.values())
        out: list[dict[str, Any]] = []
        for i in range(0, len(clean), batch):
            chunk = clean[i : i + batch]
            search = arxiv.Search(id_list=chunk, max_results=len(chunk))
            out.extend(ResultStream(self, search))
        return out

    # --- one page, politely and robustly ------------------------------------------------------------

    def _wait_turn(self) -> None:
        if self._last_request is not None and self.delay_seconds > 0:
            wait = self.delay_seconds - (time.monotonic() - self._last_request)
            if wait > 0:
                time.sleep(wait)

    def _fetch_page(self, session: requests.Session, url: str, first_page: bool) -> _feed.ParsedFeed:
        """GET one page with timeout; retry 429/5xx/timeouts/bad pages with exponential backoff + Retry-After."""
        attempt = 0
        while True:
            try:
                return self._try_page(session, url, first_page)
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    raise NetworkError(
                        f"arXiv API failed after {attempt + 1} attempts: {exc} ({safe_url(url)})",
                        "arXiv is busy or down; run `lfmwatch poll` again later (completed windows are kept)",
                    ) from exc
                pause = self.backoff * (2**attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > _MAX_RETRY_AFTER:
                        raise NetworkError(
                            f"arXiv asks to wait {exc.retry_after:.0f} s before the next request",
                            "run `lfmwatch poll` again later (completed windows are kept)",
                        ) from exc
                    pause = max(pause, exc.retry_after)
                attempt += 1
                self.stats.retries += 1
                self.stats.pauses.append(pause)
                log.info("arXiv request failed (%s); retry %d/%d in %.1f s", exc, attempt, self.max_retries, pause)
                time.sleep(pause)

    def _try_page(self, session: requests.Session, url: str, first_page: bool) -> _feed.ParsedFeed:
        self._wait_turn()
        t0 = time.perf_counter()
        self.stats.requests += 1
        try:
            resp = session.get(url, headers={"user-agent": _USER_AGENT}, timeout=self.timeout, stream=True)
            content = self._read_body(resp, time.monotonic() + _TOTAL_TIMEOUT_FACTOR * self.timeout)
        except requests.Timeout as exc:
            raise _Retryable(f"no response within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise _Retryable(f"connection failed: {exc.__class__.__name__}") from exc
        finally:
            self._last_request = time.monotonic()
            self.stats.http_seconds += time.perf_counter() - t0
        status = resp.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(resp.headers.get("Retry-After")))
        if status != 200:
            detail = _error_feed_message(content)
            message = (f"arXiv API error: {detail} (HTTP {status})" if detail
                       else f"arXiv API refused the request: HTTP {status} {resp.reason or ''}".rstrip())
            message += f" ({safe_url(url)})"
            raise NetworkError(
                message,
                "check arxiv.categories / arxiv.extra_query in lfmwatch.toml and LFMWATCH_ARXIV_API_URL",
            )
        t1 = time.perf_counter()
        try:
            return self._parse(content, first_page)
        finally:
            self.stats.parse_seconds += time.perf_counter() - t1

    def _read_body(self, resp: requests.Response, deadline: float) -> bytes:
        """The body, read in chunks: `timeout` bounds each read (a stall), `deadline` the whole response (a server
        dripping bytes just often enough never trips a read timeout)."""
        from urllib3.exceptions import HTTPError as Urllib3Error
        from urllib3.exceptions import ReadTimeoutError

        chunks, complete = [], False
        # read1 returns whatever arrived (up to the size): the deadline is checked as bytes come in, not only after
        # a big read completes. Older urllib3 has no read1: fixed-size reads then (coarser, still bounded).
        read1 = getattr(resp.raw, "read1", None)
        try:
            while True:
                try:
                    chunk = read1(64 * 1024, decode_content=True) if read1 else resp.raw.read(8192, decode_content=True)
                except ReadTimeoutError as exc:
                    raise requests.ReadTimeout(str(exc)) from exc
                except Urllib3Error as exc:
                    raise requests.ConnectionError(str(exc)) from exc
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _Retryable(f"the response took longer than {_TOTAL_TIMEOUT_FACTOR * self.timeout:g} s")
        finally:
            if complete:
                resp.raw.release_conn()  # read to the end: the connection goes back to the pool (keep-alive)
            else:
                resp.close()
        return b"".join(chunks)

    def _bad_entry(self, entry_id: str, why: str) -> None:
        entry_id = " ".join(entry_id.split())[:120]
        self.stats.bad_entries.append((entry_id, why))
        log.warning("skipping arXiv entry %r: %s", entry_id, why)

    def _parse(self, content: bytes, first_page: bool) -> _feed.ParsedFeed:
        # Strict parse: arxiv's own parser recovers from broken XML and would silently drop entries.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=False)
        try:
            root = etree.fromstring(content, parser=parser)
        except etree.XMLSyntaxError as exc:
            # Entries carrying characters XML 1.0 forbids (an ESC byte in a title) poison the whole page on
            # every request: drop just those entries, report them, and parse the rest. Anything else (a
            # truncated page) is worth a retry.
            cleaned, dropped = _drop_invalid_entries(content)
            if not dropped:
                raise _Retryable(f"malformed XML from arXiv ({exc})") from exc
            try:
                root = etree.fromstring(cleaned, parser=parser)
            except etree.XMLSyntaxError as exc2:
                raise _Retryable(f"malformed XML from arXiv ({exc2})") from exc2
            for entry_id in dropped:
                self._bad_entry(entry_id, "characters XML 1.0 does not allow (control bytes) in the entry")
        if root is None or root.tag != "{http://www.w3.org/2005/Atom}feed":
            raise _Retryable("the response is not an Atom feed")
        message = _error_entry(root)
        if message is not None:
            raise NetworkError(
                f"arXiv API error: {message}",
                "check arxiv.categories / arxiv.extra_query in lfmwatch.toml (or the ids asked for)",
            )
        header = _feed.FeedHeader(
            total_results=_int(root, "opensearch:totalResults"),
            items_per_page=_int(root, "opensearch:itemsPerPage"),
            start_index=_int(root, "opensearch:startIndex"),
        )
        entries = root.findall("atom:entry", _NS)
        results = [r for r in (_feed._build_result(e) for e in entries) if r is not None]
        self.stats.skipped_entries += len(entries) - len(results)
        if not entries and (not first_page or header.total_results > header.start_index):
            # The API sporadically returns empty pages; a retry usually fixes it.
            raise _Retryable(f"empty page at start={header.start_index} of {header.total_results} results")
        if self._on_header is not None and first_page:
            self._on_header(header.total_results)
        return _feed.ParsedFeed(header=header, results=results)


_INVALID_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[1245-9]|2[0-9]|3[01]));")
_ENTRY = re.compile(rb"<entry\b.*?</entry>", re.DOTALL)


def _drop_invalid_entries(content: bytes) -> tuple[bytes, list[str]]:
    """`content` without the <entry> elements holding characters XML 1.0 forbids, and those entries' ids."""
    dropped: list[str] = []

    def drop(m: re.Match[bytes]) -> bytes:
        if not _INVALID_XML.search(m.group(0)):
            return m.group(0)
        found = re.search(rb"<id>([^<]*)</id>", m.group(0))
        dropped.append(_INVALID_XML.sub(b"", found.group(1)).decode("utf-8", "replace") if found else "?")
        return b""

    cleaned = _ENTRY.sub(drop, content)
    return cleaned, dropped


def _int(root: Any, path: str) -> int:
    el = root.find(path, _NS)
    try:
        return int((el.text or "").strip()) if el is not None else 0
    except ValueError:
        return 0


def _error_entry(root: Any) -> str | None:
    """The message of an arXiv error feed (one entry titled "Error" with an /api/errors id), else None."""
    entries = root.findall("atom:entry", _NS)
    if len(entries) != 1:
        return None
    entry = entries[0]
    eid = entry.findtext("atom:id", default="", namespaces=_NS)
    title = (entry.findtext("atom:title", default="", namespaces=_NS) or "").strip()
    # The id decides: a real paper may well be titled "Error" (its id is then an /abs/ URL).
    if "/api/errors" not in eid and (title != "Error" or "/abs/" in eid):
        return None
    summary = entry.findtext("atom:summary", default="", namespaces=_NS) or eid
    return " ".join(summary.split())


def _error_feed_message(content: bytes) -> str | None:
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except (etree.XMLSyntaxError, ValueError):
        return None
    return _error_entry(root) if root is not None else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def safe_url(url: str) -> str:
    """`url` for an error message: no user:password, and the values of secret-looking query keys masked."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    query = re.sub(r"((?:^|&)[^=&]*(?:key|token|secret|password|auth|sig)[^=&]*=)[^&]*", r"\1***", parts.query,
                   flags=re.IGNORECASE)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
