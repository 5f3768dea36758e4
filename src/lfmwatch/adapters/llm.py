"""Optional one-line LLM summaries: an OpenAI-compatible chat client, a cache in the store, a per-run budget.

Only papers that will be shown (selected for the PR, or in a digest) are summarized, never the stream.
Summaries are a courtesy: one paper's failure is recorded and skipped, an unreachable endpoint stops the
requests of this run (after the client's own bounded retries) and everything else goes on without them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lfmwatch.adapters.llm_clean import MAX_OUTPUT_TOKENS, PROMPT_VERSION, build_messages, clean_summary
from lfmwatch.errors import ConfigError
from lfmwatch.store import summaries

if TYPE_CHECKING:
    from lfmwatch.config import Config
    from lfmwatch.store.db import Store

log = logging.getLogger("lfmwatch.adapters.llm")

# Local servers (llama.cpp, vLLM, Ollama) accept any key; the client insists on one.
PLACEHOLDER_KEY = "lfmwatch-no-key"
# Consecutive papers whose request could not reach the endpoint before the run stops asking.
UNREACHABLE_AFTER = 2
# A failure of this kind is the endpoint's, not the paper's: retried by the next run (the store's query knows it).
_RETRYABLE_PREFIX = summaries.RETRYABLE_PREFIX


@dataclass
class SummaryResult:
    """What one summarize run did (counts per outcome, tokens spent, a few error lines)."""

    requested: int = 0
    ok: int = 0
    cached: int = 0
    failed: int = 0
    skipped_budget: int = 0
    skipped_unreachable: int = 0
    unknown: int = 0
    tokens: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal and the run log."""
        parts = [f"{self.ok} new", f"{self.cached} cached", f"{self.failed} failed"]
        if self.skipped_budget:
            parts.append(f"{self.skipped_budget} over budget")
        if self.skipped_unreachable:
            parts.append(f"{self.skipped_unreachable} not tried (endpoint unreachable)")
        if self.unknown:
            parts.append(f"{self.unknown} unknown id(s)")
        return f"summaries: {', '.join(parts)}; {self.tokens} tokens"


def make_client(config: Config) -> Any:
    """An openai.OpenAI client from OPENAI_BASE_URL / OPENAI_API_KEY with the configured timeout and retries."""
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if not base_url and not api_key:
        raise ConfigError(
            "summaries are enabled but no LLM endpoint is configured",
            "set OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint), or set summaries.enabled = false",
        )
    import openai  # heavy; only when summaries are actually requested

    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key or PLACEHOLDER_KEY,
        timeout=config.summaries.timeout_seconds,
        max_retries=config.summaries.max_retries,
    )


def _estimate_tokens(messages: list[dict[str, str]], answer: str) -> int:
    # ~4 characters a token: used only when the endpoint returns no `usage`.
    return (sum(len(m["content"]) for m in messages) + len(answer)) // 4 + 8


def _ask(client: Any, model: str, messages: list[dict[str, str]]) -> tuple[str | None, int | None]:
    """One chat completion; returns (content, total tokens or None). Raises the client's exceptions."""
    response = client.chat.completions.create(
        model=model, messages=messages, max_tokens=MAX_OUTPUT_TOKENS, temperature=0.2
    )
    choices = getattr(response, "choices", None)
    if not choices:
        raise ValueError("the endpoint's answer has no choices (not an OpenAI-compatible chat completion)")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    usage = getattr(response, "usage", None)
    total = getattr(usage, "total_tokens", None) if usage is not None else None
    return (content if isinstance(content, str) else None), (int(total) if isinstance(total, int) else None)


def _describe(exc: Exception) -> tuple[str, bool]:
    """(a one-line reason without secrets, whether the endpoint looks unreachable)."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return f"{type(exc).__name__}", False
    if isinstance(exc, openai.APITimeoutError):
        return "timed out (after retries)", True
    if isinstance(exc, openai.APIConnectionError):
        return "cannot connect to the endpoint (after retries)", True
    if isinstance(exc, openai.AuthenticationError):
        return "the endpoint refused the API key (HTTP 401): check OPENAI_API_KEY", True
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from the endpoint (after retries)", False
    if isinstance(exc, ValueError | TypeError | AttributeError):
        return f"malformed answer: {str(exc)[:120]}", False
    return f"{type(exc).__name__}: {str(exc)[:120]}", False


def summarize_papers(store: Store, config: Config, paper_ids: Iterable[str], *, client: Any = None,
                     force: bool = False) -> SummaryResult:
    """Summarize the given papers (cached by paper, model, prompt version) within the per-run budget.

    Raises ConfigError only when summaries are enabled but no endpoint is configured; every per-paper
    problem is counted and recorded instead. With summaries disabled this does nothing.
    """
    from lfmwatch.store.papers import get_papers

    result = SummaryResult()
    cfg = config.summaries
    ids = list(dict.fromkeys(str(i) for i in paper_ids if i))
    if not cfg.enabled or not ids:
        return result
    model = cfg.model
    cache = summaries.cached(store, ids, model, PROMPT_VERSION)
    papers = get_papers(store, ids)
    todo: list[str] = []
    for pid in ids:
        row = cache.get(pid)
        if pid not in papers:
            result.unknown += 1
        elif row and not force and (row["status"] == "ok" or not row["error"].startswith(_RETRYABLE_PREFIX)):
            # An ok summary, or an answer we rejected: asking again would spend tokens on the same outcome.
            result.cached += 1
        else:
            todo.append(pid)
    if not todo:
        return result
    if client is None:
        client = make_client(config)

    unreachable_streak = 0
    for n, pid in enumerate(todo):
        if unreachable_streak >= UNREACHABLE_AFTER:
            result.skipped_unreachable = len(todo) - n
            break
        paper = papers[pid]
        messages = build_messages(paper.get("title") or "", paper.get("abstract") or "", cfg.language)
        # Stop before a request that could take the run over its token budget (prompt estimate + answer cap).
        worst = _estimate_tokens(messages, "") + MAX_OUTPUT_TOKENS
        if result.requested >= cfg.max_papers or result.tokens + worst > cfg.max_tokens:
            result.skipped_budget = len(todo) - n
            break
        result.requested += 1
        try:
            content, used = _ask(client, model, messages)
        except Exception as exc:  # one paper's failure never fails the run
            reason, unreachable = _describe(exc)
            unreachable_streak = unreachable_streak + 1 if unreachable else 0
            summaries.record(store, pid, model, PROMPT_VERSION, "failed", None, _RETRYABLE_PREFIX + reason, 0)
            result.failed += 1
            result.errors.append(f"{pid}: {reason}")
            log.warning("summary of %s failed: %s", pid, reason)
            continue
        unreachable_streak = 0
        tokens = used if used is not None else _estimate_tokens(messages, content or "")
        result.tokens += tokens
        cleaned = clean_summary(content, title=paper.get("title") or "", abstract=paper.get("abstract") or "",
                                language=cfg.language)
        if cleaned.ok:
            summaries.record(store, pid, model, PROMPT_VERSION, "ok", cleaned.text, None, tokens)
            result.ok += 1
        else:
            summaries.record(store, pid, model, PROMPT_VERSION, "failed", None, f"rejected: {cleaned.reason}", tokens)
            result.failed += 1
            result.errors.append(f"{pid}: rejected: {cleaned.reason}")
            log.info("summary of %s rejected: %s", pid, cleaned.reason)
    return result


def get_summaries(store: Store, ids: Iterable[str], model: str | None = None) -> dict[str, str]:
    """Usable summaries by paper id for the current prompt version (any model when `model` is None, newest wins)."""
    return summaries.usable_summaries(store, ids, PROMPT_VERSION, model)


def pending_summary_ids(store: Store, config: Config, limit: int | None = None) -> list[str]:
    """Papers waiting in proposals (selected/proposed) that have no summary for the configured model yet."""
    return summaries.pending_summary_ids(store, config.summaries.model, PROMPT_VERSION, limit)
