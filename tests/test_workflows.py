"""Invariants of the GitHub Actions workflows: schedules off the hour, least privilege, no inline secrets."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ALL = sorted(WORKFLOWS.glob("*.yml"))
SCHEDULED = ("lfmwatch.yml", "digest.yml", "keepalive.yml", "retrain.yml")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def test_expected_workflows_exist() -> None:
    names = {p.name for p in ALL}
    assert {"lfmwatch.yml", "digest.yml", "ci.yml", "keepalive.yml"} <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_permissions_and_concurrency(path: Path) -> None:
    wf = load(path)
    assert wf.get("permissions") == {"contents": "read"}, "top-level permissions must be read-only"
    assert "concurrency" in wf and wf["concurrency"]["group"]
    for name, job in wf["jobs"].items():
        perms = job.get("permissions", {})
        for scope, level in perms.items():
            if level == "write":
                # Write access only where a step needs it: pushing state back or re-enabling workflows.
                assert (scope, path.name) in {
                    ("contents", "lfmwatch.yml"), ("contents", "digest.yml"), ("actions", "keepalive.yml"),
                    ("contents", "retrain.yml"),
                }, f"{path.name}:{name} asks for {scope}: write"
        assert job.get("timeout-minutes"), f"{path.name}:{name} needs a timeout"


@pytest.mark.parametrize("name", SCHEDULED)
def test_schedules_are_off_the_hour(name: str) -> None:
    wf = load(WORKFLOWS / name)
    crons = [s["cron"] for s in wf["on"]["schedule"]]
    assert crons
    for cron in crons:
        minute = cron.split()[0]
        assert minute.isdigit() and int(minute) not in (0, 30), f"{name}: cron {cron!r} runs at a busy minute"
    assert "workflow_dispatch" in wf["on"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_actions_pinned_to_full_sha(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for step in steps(load(path)):
        if "uses" in step:
            assert SHA_PIN.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned to a commit SHA"
    # Every pin carries the version it stands for, so updates are reviewable.
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d+\.\d+\.\d+", line), line


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_inline_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|sk-[A-Za-z0-9]{20,})", text)
    for line in text.splitlines():
        m = re.match(r"\s*(\w*(TOKEN|KEY|PASSWORD|SECRET)\w*):\s*(.+)$", line)
        if m:
            value = m.group(3).strip()
            assert re.fullmatch(r"\$\{\{\s*(secrets\.\w+|github\.token)\s*\}\}", value), line
    # Expressions are never spliced into shell scripts (script injection): they go through env.
    for step in steps(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: expression inside run: {step.get('name')}"


def test_daily_run_invokes_lfmwatch_and_saves_state() -> None:
    wf = load(WORKFLOWS / "lfmwatch.yml")
    runs = "\n".join(s.get("run", "") for s in steps(wf))
    assert re.search(r"^\s*lfmwatch run\s*$", runs, re.M)
    assert "bash scripts/state_branch.sh pull" in runs and "bash scripts/state_branch.sh push" in runs
    env = {k: v for s in steps(wf) for k, v in s.get("env", {}).items()}
    assert env["GITHUB_TOKEN"] == "${{ secrets.LFMWATCH_GITHUB_TOKEN }}"
    uses = [s["uses"] for s in steps(wf) if "uses" in s]
    assert not any("cache@" in u for u in uses), "state is committed, never restored from a cache"


def test_digest_and_ci_commands() -> None:
    digest = "\n".join(s.get("run", "") for s in steps(load(WORKFLOWS / "digest.yml")))
    assert "lfmwatch digest" in digest and "bash scripts/state_branch.sh push" in digest
    ci = load(WORKFLOWS / "ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps(ci))


def test_shared_concurrency_group_for_state_writers() -> None:
    groups = {load(WORKFLOWS / n)["concurrency"]["group"] for n in ("lfmwatch.yml", "digest.yml")}
    assert len(groups) == 1, "the daily run and the digest both push state.db: one group"
    for n in ("lfmwatch.yml", "digest.yml"):
        assert load(WORKFLOWS / n)["concurrency"]["cancel-in-progress"] is False


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_lint_script_rejects_a_broken_workflow(tmp_path: Path) -> None:
    if not (Path.home() / ".cache" / "lfmwatch-actionlint").exists():
        pytest.skip("actionlint not installed yet (.ci/lint-workflows installs it; .ci/run lints the real files)")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "lint-workflows", tmp_path / ".ci" / "lint-workflows")
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    proc = subprocess.run(["bash", str(tmp_path / ".ci" / "lint-workflows")], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bad.yml:6" in proc.stdout


def test_keepalive_reenables_the_scheduled_workflows() -> None:
    wf = load(WORKFLOWS / "keepalive.yml")
    (job,) = wf["jobs"].values()
    assert job["permissions"] == {"actions": "write"}
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert "gh api --method PUT" in script and "/enable" in script
    for name in ("lfmwatch.yml", "digest.yml", "keepalive.yml"):
        assert name in script
    # Monthly is well inside GitHub's 60 days of inactivity.
    (cron,) = [s["cron"] for s in wf["on"]["schedule"]]
    assert cron.split()[2:4] == ["1", "*"]


def test_weekly_retrain_runs_the_gated_train_and_commits_models() -> None:
    wf = load(WORKFLOWS / "retrain.yml")
    (cron,) = [s["cron"] for s in wf["on"]["schedule"]]
    assert cron.split()[2:4] == ["*", "*"] and cron.split()[4] not in ("*",), "weekly"
    runs = "\n".join(s.get("run", "") for s in steps(wf))
    assert re.search(r'^\s*lfmwatch train "\$\{args\[@\]\}"\s*$', runs, re.M)  # no data arguments: the gated retrain
    assert "git add -f models" in runs and "git diff --cached --quiet" in runs
    env = {k: v for s in steps(wf) for k, v in s.get("env", {}).items()}
    assert env["GITHUB_TOKEN"] == "${{ secrets.LFMWATCH_GITHUB_TOKEN }}"
    assert wf["concurrency"]["group"] == load(WORKFLOWS / "lfmwatch.yml")["concurrency"]["group"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_checkout_keeps_no_token_and_installs_come_from_the_lock(path: Path) -> None:
    wf = load(path)
    for step in steps(wf):
        if "actions/checkout@" in step.get("uses", "") and path.name != "retrain.yml":
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}: token left in .git/config"
    for step in steps(wf):
        run = step.get("run", "")
        if "pip install" in run and path.name in ("lfmwatch.yml", "digest.yml", "retrain.yml"):
            assert "-c requirements/lock.txt" in run, f"{path.name}: unpinned install"
    assert (ROOT / "requirements" / "lock.txt").read_text().count("==") > 20


def test_ci_covers_oldest_and_newest_python_and_scikit_learn() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    oldest_python = project["requires-python"].removeprefix(">=")
    sklearn = next(d for d in project["dependencies"] if d.startswith("scikit-learn"))
    lower = re.search(r">=([\d.]+)", sklearn).group(1)
    upper = re.search(r"<([\d.]+)", sklearn).group(1)
    ci = load(WORKFLOWS / "ci.yml")
    pythons = ci["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert pythons[0] == oldest_python and len(pythons) == 2 and pythons[1] > oldest_python
    ends = ci["jobs"]["model-compat"]["strategy"]["matrix"]["scikit-learn"]
    assert ends[0].removeprefix("==").startswith(lower) and ends[1] == f"<{upper}"
    assert "lock.txt" in (ROOT / ".ci" / "run").read_text()


def test_dependabot_proposes_weekly_pip_and_actions_updates() -> None:
    cfg = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert cfg["version"] == 2
    eco = {u["package-ecosystem"]: u for u in cfg["updates"]}
    assert set(eco) == {"pip", "github-actions"}
    for u in eco.values():
        assert u["directory"] == "/" and u["schedule"]["interval"] == "weekly"
