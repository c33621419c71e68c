"""The built wheel carries what `scoring score` needs: the rulebook, the templates and the champion."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and installs the wheel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"the wheel does not build:\n{r.stderr[-2000:]}")
    return next(out.glob("*.whl"))


def test_wheel_carries_the_champion_and_every_file_its_metadata_names(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    meta = json.loads((ROOT / "models" / "champion" / "metadata.json").read_text(encoding="utf-8"))
    files = ["metadata.json", *(v["file"] for v in meta["files"].values()),
             *(e["file"] for e in meta["estimators"].values())]
    for f in files:
        assert f"scoring/_champion/{f}" in names, f
    assert {"scoring/rules/rulebook.yaml", "scoring/templates/report.html.j2"} <= names


def test_installed_wheel_scores_without_model_option(wheel, tmp_path):
    """Unpacked as pip installs it, away from the checkout: `scoring score` without --model finds
    the champion the wheel carries and scores a submission."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    sub = ROOT / "datasets" / "sample"
    code = ("import sys, json; from scoring.cli import main; import scoring; "
            "assert scoring.__file__.startswith(sys.argv[1]), scoring.__file__; "
            "sys.argv = ['scoring', 'score', sys.argv[2], '--out', sys.argv[3], '--quiet']; main()")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SCORING_MODEL", None)
    r = subprocess.run([sys.executable, "-c", code, str(site), str(sub), str(tmp_path / "out")], cwd=tmp_path,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    meta = json.loads((ROOT / "models" / "champion" / "metadata.json").read_text(encoding="utf-8"))
    assert run["model_version"] == f"{meta['version']}@{meta['artifact_sha256'][:12]}" and run["model_sha256"] == meta["artifact_sha256"]
    assert run["policies_scored"] > 0
