"""Measure a report's document width in headless Chromium at given window widths.

    python scripts/report_width.py RUN_DIR/report.html [1366 1920]

Prints the scrollWidth at each window width and exits 1 when the page is wider than the window
(it would scroll sideways). Needs Debian's ``chromium``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def width(page: Path, window: int) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found")
    html = page.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.title='W'+document.documentElement.scrollWidth</script></body>")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(html, encoding="utf-8")
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                              f"--window-size={window},1000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    return int(re.search(r"<title>W(\d+)", dom).group(1))


def main() -> None:
    page = Path(sys.argv[1])
    windows = [int(w) for w in sys.argv[2:]] or [1366, 1920]
    worst = 0
    for w in windows:
        got = width(page, w)
        print(f"window {w} px: document width {got} px")
        worst = max(worst, got - w)
    sys.exit(1 if worst > 0 else 0)


if __name__ == "__main__":
    main()
