"""Configuration loading, validation messages, `lfmwatch init`, and a light `--help`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfmwatch import __version__
from lfmwatch.cli import cli
from lfmwatch.config import Config, describe_keys, load_config, render_default_config
from lfmwatch.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_serve_the_lfm_list() -> None:
    config = load_config()  # no lfmwatch.toml in the fresh tmp cwd
    assert config.source is None
    assert config.target.repo == "ruthless-man/Awesome-Learn-from-Model"
    assert config.target.readme == "README.md"
    assert config.target.branch == "lfmwatch/papers"
    assert config.arxiv.categories == ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]
    assert config.arxiv.delay_seconds == 3.0
    assert str(config.db_path).endswith("state.db")


def test_environment_provides_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFMWATCH_DB", "/tmp/x/other.db")
    monkeypatch.setenv("LFMWATCH_ARXIV_API_URL", "http://127.0.0.1:9/api/query")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    config = Config()
    assert config.db_path == Path("/tmp/x/other.db")
    assert config.arxiv_api_url == "http://127.0.0.1:9/api/query"
    assert config.github_api_url == "http://127.0.0.1:9"


def test_file_values_override_defaults(tmp_path: Path) -> None:
    f = write(tmp_path / "lfmwatch.toml", '[arxiv]\ncategories = ["cs.LG"]\ndelay_seconds = 0\n[select]\nmax_per_run = 3\n')
    config = load_config()
    assert config.source == Path("lfmwatch.toml")
    assert config.arxiv.categories == ["cs.LG"]
    assert config.arxiv.delay_seconds == 0.0 and isinstance(config.arxiv.delay_seconds, float)
    assert config.select.max_per_run == 3
    assert load_config(f).select.max_per_run == 3


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[arxiv]\ncategoriez = []\n", "unknown key arxiv.categoriez"),
        ("[nope]\nx = 1\n", "unknown section [nope]"),
        ("[select]\nmax_per_run = 'ten'\n", "select.max_per_run must be an integer"),
        ("[select]\nmax_per_run = true\n", "select.max_per_run must be an integer"),
        ("[arxiv]\ncategories = 'cs.LG'\n", "arxiv.categories must be a list of str"),
        ("[summaries]\nenabled = 1\n", "summaries.enabled must be true or false"),
        ("[schedule]\nrun_cron = '61 * * * *'\n", "schedule.run_cron is not a valid cron expression"),
        ("[schedule]\ndigest_cron = 'every monday'\n", "schedule.digest_cron is not a valid cron expression"),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", "schedule.timezone"),
        ("[target]\nrepo = 'no-slash'\n", "target.repo must look like owner/name"),
        ("[digest]\nsmtp_security = 'ssl3'\n", "digest.smtp_security"),
        ("[arxiv]\ndelay_seconds = -1\n", "arxiv.delay_seconds must be between 0 and 600"),
        # What a reliability probe passed through (issue 14): NaN, inf, negatives, zero and absurd sizes.
        ("[arxiv]\ndelay_seconds = nan\n", "arxiv.delay_seconds must be a finite number"),
        ("[select]\nmin_score = nan\n", "select.min_score must be a finite number"),
        ("[model]\nthreshold = nan\n", "model.threshold must be a finite number"),
        ("[model]\nthreshold = 1.5\n", "model.threshold must be in [0, 1]"),
        ("[digest]\nmax_papers = -3\n", "digest.max_papers must be between 1 and"),
        ("[summaries]\nmax_tokens = -1\n", "summaries.max_tokens must be between 1 and"),
        ("[arxiv]\ntimeout_seconds = 0\n", "arxiv.timeout_seconds must be between 0.1 and 3600"),
        ("[arxiv]\ntimeout_seconds = inf\n", "arxiv.timeout_seconds must be a finite number"),
        ("[summaries]\ntimeout_seconds = 0\n", "summaries.timeout_seconds must be between"),
        ("[arxiv]\nwindow_days = 1000000000000\n", "arxiv.window_days must be between 1 and 366"),
        ("[select]\nmin_score = -0.5\n", "select.min_score must be between 0 and 1"),
        ("[arxiv]\ncategories = ['cs.LG) OR (cat:cs.CV']\n", "is not an arXiv category"),
        ("[arxiv]\ncategories = ['cs.LG', '']\n", "is not an arXiv category"),
        ("[arxiv]\nextra_query = 'abs:LLM) OR (abs:x'\n", "unbalanced parentheses"),
        ("not toml at all = = =\n", "invalid TOML"),
    ],
)
def test_validation_names_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    f = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    message = str(info.value)
    assert needle in message
    assert "bad.toml" in message


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "binary.toml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="binary.toml"):
        load_config(f)


def test_default_config_round_trips_and_documents_every_key() -> None:
    text = render_default_config()
    raw = tomllib.loads(text)
    from lfmwatch.config import config_from_dict

    assert config_from_dict(raw) == Config()
    for key, _default, meaning in describe_keys():
        assert meaning, f"{key} has no documentation"


def test_init_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    written = (tmp_path / "lfmwatch.toml").read_text()
    assert "[target]" in written and "# " in written
    (tmp_path / "lfmwatch.toml").write_text(written + "\n# my edit\n")
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 1
    assert "already exists" in again.output and "--force" in again.output
    assert "# my edit" in (tmp_path / "lfmwatch.toml").read_text()
    forced = runner.invoke(cli, ["init", "--force"])
    assert forced.exit_code == 0
    assert "# my edit" not in (tmp_path / "lfmwatch.toml").read_text()


def test_init_config_keeps_the_packaged_model(tmp_path: Path) -> None:
    """A fresh `lfmwatch init` in a directory without models/ still finds the model pip installed."""
    from lfmwatch.config import PACKAGED_MODEL, packaged_model_path

    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    config = load_config(tmp_path / "lfmwatch.toml")
    if packaged_model_path() is None:
        pytest.skip("no packaged model in this installation")
    assert config.model_origin == PACKAGED_MODEL
    assert Path(config.model.path) == packaged_model_path()


def test_bad_config_is_a_clean_cli_error(tmp_path: Path) -> None:
    write(tmp_path / "c.toml", "[arxiv]\nbogus = 1\n")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "c.toml"), "init", "--path", "x.toml"])
    # init does not need the config; a command that does must fail cleanly
    assert result.exit_code == 0
    (tmp_path / "x.md").write_text("# List\n\n## A\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "c.toml"), "sections", "--readme", "x.md"])
    assert result.exit_code == 1
    assert "unknown key arxiv.bogus" in result.output and "c.toml" in result.output
    assert "Traceback" not in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from lfmwatch.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sklearn', 'openai', 'github', 'numpy', 'scipy', 'jinja2', 'arxiv', 'httpx')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_python_dash_m_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "lfmwatch", "--help"], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
