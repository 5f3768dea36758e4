"""Configuration: `lfmwatch.toml` (or --config PATH) plus environment variables; defaults serve the LFM list."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from lfmwatch.errors import ConfigError

DEFAULT_CONFIG_NAME = "lfmwatch.toml"
DEFAULT_MODEL_PATH = "models/lfm-model.npz"
PACKAGED_MODEL = "the default model packaged with lfmwatch"  # Config.model_origin when that one is used


@dataclass
class TargetConfig:
    """The awesome list the bot proposes papers to."""

    repo: str = "ruthless-man/Awesome-Learn-from-Model"
    readme: str = "README.md"
    base_branch: str = ""  # empty: the repository's default branch
    branch: str = "lfmwatch/papers"
    fork: str = ""  # "owner/name" of a fork to push to when the token cannot push to `repo`
    labels: list[str] = field(default_factory=lambda: ["lfmwatch", "new papers"])
    pr_title: str = "lfmwatch: new papers for the list"
    exclude_sections: list[str] = field(
        default_factory=lambda: ["Table of Contents", "Citation", "Papers", "*Exciting News*"]
    )


@dataclass
class ArxivConfig:
    """What to poll and how politely."""

    categories: list[str] = field(default_factory=lambda: ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"])
    extra_query: str = ""
    delay_seconds: float = 3.0
    page_size: int = 2000  # what the API serves in one response
    timeout_seconds: float = 30.0
    max_retries: int = 4
    backoff_seconds: float = 2.0
    overlap_days: int = 2
    window_days: int = 7  # a daily catch-up is one query; larger windows are split (max_window_results)
    first_poll_days: int = 3
    max_window_results: int = 9000


@dataclass
class ModelConfig:
    """The classifier."""

    path: str = DEFAULT_MODEL_PATH
    target_precision: float = 0.9
    threshold: float = -1.0  # < 0: use the threshold stored in the model
    bundle: str = "models/lfm-bundle.jsonl.gz"  # texts, labels, reviews and unlabelled papers for retraining
    stream_sample: int = 5000  # newest stored papers used as unlabelled examples when retraining


@dataclass
class SelectConfig:
    """How many papers go into a pull request."""

    max_per_run: int = 10
    max_per_pr: int = 40
    max_per_section: int = 4  # per top-level section and run; 0 = no cap
    min_score: float = 0.0


@dataclass
class SummariesConfig:
    """Optional LLM one-line summaries (any OpenAI-compatible endpoint)."""

    enabled: bool = False
    model: str = "gpt-4o-mini"
    language: str = "en"
    max_papers: int = 30
    max_tokens: int = 20000
    timeout_seconds: float = 30.0
    max_retries: int = 2


@dataclass
class DigestConfig:
    """The weekly digest email."""

    recipients: list[str] = field(default_factory=list)
    bcc: bool = True
    sender: str = "lfmwatch <lfmwatch@localhost>"
    subject: str = "LFM weekly: new papers for Learn from Model"
    list_unsubscribe: str = ""
    send_empty: bool = False
    smtp_security: str = "starttls"  # starttls | tls | none
    timeout_seconds: float = 30.0
    max_retries: int = 3
    backoff_seconds: float = 5.0
    max_papers: int = 60


@dataclass
class ScheduleConfig:
    """Cron expressions for `lfmwatch daemon` (the GitHub workflows carry their own)."""

    run_cron: str = "17 6 * * *"
    digest_cron: str = "41 7 * * mon"
    retrain_cron: str = "23 5 * * sun"
    timezone: str = "UTC"
    misfire_grace_hours: float = 12.0


@dataclass
class Config:
    """The whole configuration; `source` is the file it was read from (None for pure defaults)."""

    target: TargetConfig = field(default_factory=TargetConfig)
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    summaries: SummariesConfig = field(default_factory=SummariesConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    source: Path | None = None
    model_origin: str = ""  # where model.path came from (locate_model), shown by `lfmwatch status`

    # Values that only ever come from the environment (secrets and endpoints).
    @property
    def db_path(self) -> Path:
        """Path of the SQLite store (LFMWATCH_DB, default state.db)."""
        return Path(os.environ.get("LFMWATCH_DB") or "state.db")

    @property
    def arxiv_api_url(self) -> str:
        """arXiv API query endpoint (LFMWATCH_ARXIV_API_URL)."""
        return os.environ.get("LFMWATCH_ARXIV_API_URL") or "https://export.arxiv.org/api/query"

    @property
    def github_api_url(self) -> str:
        """GitHub REST base URL (GITHUB_API_URL, set by Actions)."""
        return os.environ.get("GITHUB_API_URL") or "https://api.github.com"


SECTIONS: dict[str, type] = {
    "target": TargetConfig,
    "arxiv": ArxivConfig,
    "model": ModelConfig,
    "select": SelectConfig,
    "summaries": SummariesConfig,
    "digest": DigestConfig,
    "schedule": ScheduleConfig,
}

_ARXIV_CATEGORY = re.compile(r"[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?")
# Numeric keys: the closed range where each means something (NaN and inf are refused when read).
_RANGES: dict[str, tuple[float, float]] = {
    "arxiv.delay_seconds": (0, 600),
    "arxiv.page_size": (1, 2000),
    "arxiv.timeout_seconds": (0.1, 3600),
    "arxiv.max_retries": (0, 20),
    "arxiv.backoff_seconds": (0, 3600),
    "arxiv.overlap_days": (0, 366),
    "arxiv.window_days": (1, 366),
    "arxiv.first_poll_days": (1, 3660),
    "arxiv.max_window_results": (1, 100000),
    "select.max_per_run": (0, 10000),
    "select.max_per_pr": (0, 10000),
    "select.max_per_section": (0, 10000),
    "select.min_score": (0, 1),
    "summaries.max_papers": (0, 10000),
    "summaries.max_tokens": (1, 10**9),
    "summaries.timeout_seconds": (0.1, 3600),
    "summaries.max_retries": (0, 20),
    "digest.timeout_seconds": (0.1, 3600),
    "digest.max_retries": (0, 20),
    "digest.backoff_seconds": (0, 3600),
    "digest.max_papers": (1, 10000),
    "schedule.misfire_grace_hours": (0, 24 * 366),
}
_GIT_BRANCH = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._/-]*")
_CRON_FIELD = re.compile(r"^[\w*/,\-?#LW]+$")


def secret(name: str) -> str | None:
    """Read a secret from the environment only; empty strings count as unset."""
    value = os.environ.get(name)
    return value if value else None


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate the configuration; with no path, read ./lfmwatch.toml if it exists."""
    explicit = path is not None
    file = Path(path) if path is not None else Path(DEFAULT_CONFIG_NAME)
    if not file.exists():
        if explicit:
            raise ConfigError(f"{file}: configuration file not found", "create one with `lfmwatch init`")
        return locate_model(Config())
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read configuration: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: configuration is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from exc
    config = config_from_dict(raw, file)
    config.source = file
    return locate_model(config, file if isinstance(raw.get("model"), dict) and "path" in raw["model"] else None)


def packaged_model_path() -> Path | None:
    """The default model installed with the package (models/ shipped as `lfmwatch._default_model`), if any."""
    from importlib.util import find_spec

    try:
        spec = find_spec("lfmwatch._default_model")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / Path(DEFAULT_MODEL_PATH).name
    return path if path.exists() else None


def locate_model(config: Config, set_by: Path | None = None) -> Config:
    """Resolve `model.path` and record where it came from (config.model_origin).

    A path set in a config file is relative to that file's directory. Without one, `models/lfm-model.npz` in the
    working directory is used when present, else the model packaged with lfmwatch.
    """
    path = Path(config.model.path)
    if set_by is not None:
        if not path.is_absolute():
            path = Path(os.path.normpath(set_by.parent / path))
        config.model.path, config.model_origin = str(path), f"model.path in {set_by}"
        return config
    if path.exists():
        config.model_origin = f"{config.model.path} in the working directory"
        return config
    packaged = packaged_model_path()
    if packaged is not None:
        config.model.path, config.model_origin = str(packaged), PACKAGED_MODEL
    else:
        config.model_origin = f"{config.model.path} (missing)"
    return config


def config_from_dict(raw: dict[str, Any], file: Path | str = "<config>") -> Config:
    """Build a validated Config from parsed TOML; errors name the key and the file."""
    config = Config()
    for section_name, values in raw.items():
        if section_name not in SECTIONS:
            raise ConfigError(
                f"{file}: unknown section [{section_name}]",
                f"known sections: {', '.join(SECTIONS)}",
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{file}: [{section_name}] must be a table")
        section = getattr(config, section_name)
        hints = get_type_hints(type(section))
        known = {f.name for f in fields(section)}
        for key, value in values.items():
            dotted = f"{section_name}.{key}"
            if key not in known:
                raise ConfigError(
                    f"{file}: unknown key {dotted}", f"known keys in [{section_name}]: {', '.join(sorted(known))}"
                )
            setattr(section, key, _coerce(value, hints[key], dotted, file))
    _validate(config, file)
    return config


def _coerce(value: Any, hint: Any, dotted: str, file: Path | str) -> Any:
    origin = get_origin(hint)
    if origin is list:
        (item_type,) = get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item_type) for v in value):
            raise ConfigError(f"{file}: {dotted} must be a list of {item_type.__name__}, got {value!r}")
        return list(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{file}: {dotted} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{file}: {dotted} must be a finite number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{file}: {dotted} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{file}: {dotted} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{file}: {dotted} must be a string, got {value!r}")
        return value
    raise AssertionError(f"unsupported config type for {dotted}: {hint}")  # pragma: no cover


def validate_cron(expr: str) -> None:
    """Raise ValueError when `expr` is not a 5-field cron expression APScheduler accepts."""
    parts = expr.split()
    if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
        raise ValueError("expected 5 fields: minute hour day month day-of-week")
    from apscheduler.triggers.cron import CronTrigger  # light import, only when validating

    CronTrigger.from_crontab(expr, timezone="UTC")


def _validate(config: Config, file: Path | str) -> None:
    for key in ("run_cron", "digest_cron", "retrain_cron"):
        expr = getattr(config.schedule, key)
        try:
            validate_cron(expr)
        except ValueError as exc:
            raise ConfigError(f"{file}: schedule.{key} is not a valid cron expression {expr!r}: {exc}") from exc
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(config.schedule.timezone)
    except Exception as exc:
        raise ConfigError(f"{file}: schedule.timezone {config.schedule.timezone!r} is not a known time zone") from exc
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", config.target.repo):
        raise ConfigError(f"{file}: target.repo must look like owner/name, got {config.target.repo!r}")
    if config.target.fork and not re.fullmatch(r"[\w.-]+/[\w.-]+", config.target.fork):
        raise ConfigError(f"{file}: target.fork must look like owner/name, got {config.target.fork!r}")
    branch = config.target.branch
    if not branch.strip() or not _GIT_BRANCH.fullmatch(branch) or ".." in branch or branch.endswith((".lock", "/")):
        raise ConfigError(f"{file}: target.branch must be a branch name of its own for the bot, got {branch!r}",
                          'e.g. target.branch = "lfmwatch/papers"')
    if branch == config.target.base_branch:
        raise ConfigError(f"{file}: target.branch = {branch!r} is the base branch: lfmwatch would commit straight to it",
                          'give the bot a branch of its own, e.g. target.branch = "lfmwatch/papers"')
    if config.digest.smtp_security not in ("starttls", "tls", "none"):
        raise ConfigError(f"{file}: digest.smtp_security must be starttls, tls or none")
    if not 0.0 < config.model.target_precision <= 1.0:
        raise ConfigError(f"{file}: model.target_precision must be in (0, 1]")
    for dotted, (low, high) in _RANGES.items():
        section, key = dotted.split(".")
        value = getattr(getattr(config, section), key)
        if not low <= value <= high:
            raise ConfigError(f"{file}: {dotted} must be between {low:g} and {high:g}, got {value!r}")
    if not -1.0 <= config.model.threshold <= 1.0:
        raise ConfigError(f"{file}: model.threshold must be in [0, 1] (or negative: the model's own threshold)")
    if not config.arxiv.categories:
        raise ConfigError(f"{file}: arxiv.categories must not be empty")
    for cat in config.arxiv.categories:
        if not _ARXIV_CATEGORY.fullmatch(cat):
            raise ConfigError(f"{file}: arxiv.categories: {cat!r} is not an arXiv category",
                              "categories look like cs.LG, stat.ML, hep-th or cond-mat.stat-mech")
    if not _balanced(config.arxiv.extra_query):
        raise ConfigError(f"{file}: arxiv.extra_query has unbalanced parentheses or quotes: {config.arxiv.extra_query!r}",
                          "it is AND-ed to the categories inside parentheses; it cannot close them")


def _balanced(query: str) -> bool:
    """Parentheses never close more than they opened (outside quotes) and quotes are paired."""
    depth, quoted = 0, False
    for ch in query:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def render_default_config() -> str:
    """A commented lfmwatch.toml with every key at its default."""
    lines = [
        "# lfmwatch configuration. Every key is optional; the values below are the defaults.",
        "# Secrets never go here: GITHUB_TOKEN, OPENAI_API_KEY and LFMWATCH_SMTP_PASSWORD come from the environment.",
        "# Other environment variables: LFMWATCH_DB, LFMWATCH_ARXIV_API_URL, GITHUB_API_URL, OPENAI_BASE_URL,",
        "# LFMWATCH_SMTP_HOST, LFMWATCH_SMTP_PORT, LFMWATCH_SMTP_USER.",
    ]
    defaults = Config()
    for name, cls in SECTIONS.items():
        section = getattr(defaults, name)
        lines += ["", f"[{name}]", f"# {cls.__doc__}"]
        for f in fields(section):
            comment = _KEY_DOCS.get(f"{name}.{f.name}")
            if comment:
                lines.append(f"# {comment}")
            line = f"{f.name} = {_toml_value(getattr(section, f.name))}"
            if f"{name}.{f.name}" == "model.path":
                # Set in a file, the path is relative to it and the packaged default model is no longer found.
                lines.append("# unset: models/lfm-model.npz in the working directory when present, else the packaged model")
                line = "# " + line
            lines.append(line)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every configuration key, for docs."""
    defaults = Config()
    rows = []
    for name in SECTIONS:
        section = getattr(defaults, name)
        assert is_dataclass(section)
        for f in fields(section):
            rows.append((f"{name}.{f.name}", _toml_value(getattr(section, f.name)), _KEY_DOCS.get(f"{name}.{f.name}", "")))
    return rows


_KEY_DOCS = {
    "target.repo": "GitHub repository of the awesome list (owner/name)",
    "target.readme": "path of the list's README inside that repository",
    "target.base_branch": "branch the PR targets; empty means the repository's default branch",
    "target.branch": "the bot's own branch for its one rolling pull request",
    "target.fork": "owner/name of a fork to push to when the token cannot push to target.repo",
    "target.labels": "labels put on the bot's pull request (created when missing)",
    "target.pr_title": "stable title of the bot's pull request",
    "target.exclude_sections": "headings that never hold papers (the heading text, or a pattern with * such as '*News*')",
    "arxiv.categories": "arXiv categories to poll (OR-ed)",
    "arxiv.extra_query": "extra arXiv query AND-ed to the categories, e.g. 'abs:LLM'",
    "arxiv.delay_seconds": "pause between API requests (arXiv asks for 3 s)",
    "arxiv.page_size": "results per API request (the most the API serves in one response)",
    "arxiv.timeout_seconds": "HTTP timeout of one API request",
    "arxiv.max_retries": "retries of a request after 429/5xx/timeouts, with exponential backoff",
    "arxiv.backoff_seconds": "first backoff pause; doubles each retry; Retry-After wins when longer",
    "arxiv.overlap_days": "days re-polled before the last completed window, for late-indexed papers",
    "arxiv.window_days": "days per query window (a daily catch-up is one query; bigger windows are split)",
    "arxiv.first_poll_days": "days polled on the very first run",
    "arxiv.max_window_results": "results one window may return before it is split (API limit ~10,000)",
    "model.path": "the fitted model; its JSON card sits beside it",
    "model.target_precision": "precision the relevance threshold is chosen for at training",
    "model.threshold": "override of the model's threshold (negative: use the model's)",
    "model.bundle": "training bundle read by `lfmwatch train` without data arguments (`lfmwatch bundle` builds it)",
    "model.stream_sample": "newest stored papers of the configured categories used as unlabelled papers when retraining",
    "select.max_per_run": "papers proposed per run at most",
    "select.max_per_pr": "papers in one open pull request at most",
    "select.max_per_section": "papers of one top-level section per run at most (0: no cap)",
    "select.min_score": "extra floor on the relevance score",
    "summaries.enabled": "write one-line LLM summaries of shown papers (OPENAI_BASE_URL, OPENAI_API_KEY)",
    "summaries.model": "chat model name at the endpoint",
    "summaries.language": "language the summaries must be in (ISO 639-1)",
    "summaries.max_papers": "summaries requested per run at most",
    "summaries.max_tokens": "tokens spent per run at most",
    "summaries.timeout_seconds": "HTTP timeout of one LLM request",
    "summaries.max_retries": "retries of one LLM request",
    "digest.recipients": "subscribers' addresses; prefer the LFMWATCH_DIGEST_RECIPIENTS secret (a committed file is public)",
    "digest.bcc": "send one message with recipients in Bcc (false: To each recipient)",
    "digest.sender": "From header",
    "digest.subject": "subject prefix; the ISO week is appended",
    "digest.list_unsubscribe": "mailto: or https: URL for the List-Unsubscribe header",
    "digest.send_empty": "send a short note when a week has nothing new",
    "digest.smtp_security": "starttls, tls (implicit) or none",
    "digest.timeout_seconds": "SMTP timeout",
    "digest.max_retries": "retries of a failed SMTP delivery",
    "digest.backoff_seconds": "first pause before retrying a transient SMTP failure; doubles each retry",
    "digest.max_papers": "papers shown in one digest at most",
    "schedule.run_cron": "cron of the daily run in `lfmwatch daemon`",
    "schedule.digest_cron": "cron of the weekly digest in `lfmwatch daemon`",
    "schedule.retrain_cron": "cron of the gated retrain (`lfmwatch train`) in `lfmwatch daemon`",
    "schedule.timezone": "time zone of the cron expressions",
    "schedule.misfire_grace_hours": "a job missed while the daemon was down still runs (once) within this many hours",
}
