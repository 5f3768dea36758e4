#!/usr/bin/env python3
"""Render a digest HTML file in headless Chromium and save a PNG, to look at how the e-mail reads.

Not part of the test run. Needs Debian's `chromium` (apt-get install -y chromium chromium-driver).

    lfmwatch digest --week 2025-W30 --out /tmp/digest
    python scripts/screenshot_digest.py /tmp/digest/digest-2025-W30.html --out /tmp/digest/w30.png

Chromium runs with networking off as far as flags allow; the digest has no remote resources anyway, so a
broken layout in the PNG is the layout, not a missing style sheet.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def find_chromium() -> str:
    """Path of a Chromium binary, or exit with how to install one."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("chromium not found: apt-get update && apt-get install -y chromium chromium-driver")


def screenshot(html: Path, out: Path, width: int = 900, height: int = 2000, timeout: float = 60.0) -> Path:
    """Render `html` to `out` (PNG) at width x height CSS pixels."""
    profile = tempfile.mkdtemp(prefix="lfmwatch-chromium-")
    cmd = [
        find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--screenshot={out}", f"--window-size={width},{height}", html.resolve().as_uri(),
    ]
    try:
        subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"chromium failed ({exc.returncode}): {exc.stderr.decode(errors='replace')[-800:]}")
    except subprocess.TimeoutExpired:
        sys.exit(f"chromium did not finish within {timeout:.0f} s")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return out


def main() -> None:
    """Command line: HTML file in, PNG out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path, help="digest-<week>.html written by `lfmwatch digest --out DIR`")
    ap.add_argument("--out", type=Path, default=None, help="PNG to write (default: next to the HTML)")
    ap.add_argument("--width", type=int, default=900)
    ap.add_argument("--height", type=int, default=2000)
    args = ap.parse_args()
    if not args.html.is_file():
        sys.exit(f"{args.html}: no such file")
    out = args.out or args.html.with_suffix(".png")
    print(screenshot(args.html, out, args.width, args.height))


if __name__ == "__main__":
    main()
