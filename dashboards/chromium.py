"""Debian's chromium, as the product drives it (the PDF report) and the tests do (browser
tests): ``playwright install`` cannot download a browser on this machine kind. Light: no
Panel import, so the tests' conftest may use it."""

from __future__ import annotations

import os

#: Flags for a headless chromium that talks to nobody but the page it is given.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def chromium_path() -> str:
    """Debian's chromium, or ``$CQP_CHROMIUM``."""
    return os.environ.get("CQP_CHROMIUM", "/usr/bin/chromium")
