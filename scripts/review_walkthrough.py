"""Walk through the review app in headless Chromium as an evaluator would, and take screenshots.

    python scripts/review_walkthrough.py RUN_DIR [--out docs] [--port 8765]

Needs Debian's chromium and chromium-driver and the ``selenium`` package (not a dependency of
the package). Starts ``scoring review RUN_DIR`` on a copy of the run (the real review
database is not touched), opens the list, filters it, opens the top policy, records a
verdict with the form, changes it, and checks that the history shows both. Screenshots:
``review-list.png``, ``review-policy.png``, ``review-stats.png`` in ``--out``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_for(url: str, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server did not start: {url}")


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--port", type=int, default=8765)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    run = tmp / "run"
    shutil.copytree(a.run_dir, run, ignore=shutil.ignore_patterns("review.sqlite*"))
    server = subprocess.Popen([sys.executable, "-m", "scoring", "review", str(run), "--port", str(a.port)], cwd=ROOT)
    base = f"http://127.0.0.1:{a.port}"
    try:
        wait_for(base + "/stats")
        opts = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1360,1900", "--lang=zh-CN"):
            opts.add_argument(flag)
        opts.binary_location = "/usr/bin/chromium"
        d = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=opts)
        try:
            d.get(base + "/")
            Select(d.find_element(By.NAME, "flag")).select_by_value("missing")
            d.find_element(By.CSS_SELECTOR, "form.filters button").click()
            rows = d.find_elements(By.CSS_SELECTOR, "td a[href^='/policy/']")
            assert rows, "no flagged policy listed"
            a.out.mkdir(parents=True, exist_ok=True)
            d.save_screenshot(str(a.out / "review-list.png"))
            rows[0].click()
            pid = d.current_url.rsplit("/", 1)[-1]

            def record(outcome: str, notes: str) -> None:
                Select(d.find_element(By.NAME, "outcome")).select_by_value(outcome)
                Select(d.find_element(By.NAME, "selection")).select_by_value("targeted")
                date = d.find_element(By.NAME, "inspection_date")
                d.execute_script("arguments[0].value = '2025-12-03'", date)
                for name, value in (("inspector_org", "某安全生产技术服务评估中心"), ("reviewer", "张评估"), ("notes", notes)):
                    el = d.find_element(By.NAME, name)
                    el.clear()
                    el.send_keys(value)
                radios = d.find_elements(By.CSS_SELECTOR, "input[type=radio][value=agree]")
                for r in radios[:2]:
                    r.click()
                d.find_element(By.CSS_SELECTOR, "form.box button").click()
                assert "saved=1" in d.current_url, d.page_source[:500]

            record("poor_quality", "现场有服务记录但无整改复查")
            record("missing", "企业称保单期内未见服务人员到场，照片与另一企业相同")
            text = d.find_element(By.TAG_NAME, "body").text
            assert "复核历史（2）" in text, "history should keep both verdicts"
            d.save_screenshot(str(a.out / "review-policy.png"))
            d.get(base + "/stats")
            d.save_screenshot(str(a.out / "review-stats.png"))
            print(f"reviewed {pid}: two verdicts recorded, history kept; screenshots in {a.out}")
        finally:
            d.quit()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
