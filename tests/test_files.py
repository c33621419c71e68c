"""Result directories: only this program's own sets are replaced, whole, keeping mode and group."""
import json
import os
import stat
import subprocess

import pytest
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring import files as results
from scoring import writers
from scoring.cli import app
from scoring.errors import OptionError

from .helpers import world

MANIFEST = '{"tool_version": "0"}'


def _users_folder(path):
    """A user's working folder: files, a sub-folder, a link, a read-only file."""
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    (path / "sub").mkdir()
    (path / "sub" / "data.csv").write_text("a,b\n")
    (path / "link").symlink_to(path / "notes.txt")
    (path / "ro.txt").write_text("keep\n")
    os.chmod(path / "ro.txt", 0o444)
    os.chmod(path, 0o750)
    return {str(p.relative_to(path)): p.lstat().st_ino for p in path.rglob("*")}


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    return write_submission(world(200, 5), tmp_path_factory.mktemp("res") / "s")


@pytest.mark.parametrize("command", ["score", "validate", "convert"])
def test_a_users_folder_given_as_out_is_refused_and_left_as_it_was(sub, tmp_path, command):
    out = tmp_path / "work"
    before = _users_folder(out)
    mode = out.stat().st_mode
    args = [command, str(sub), "--out", str(out)] + (["--quiet"] if command == "score" else [])
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "不是本程序写出的结果" in r.output and "this program did not write" in r.output
    assert {str(p.relative_to(out)): p.lstat().st_ino for p in out.rglob("*")} == before
    assert out.stat().st_mode == mode
    assert [p.name for p in tmp_path.iterdir()] == ["work"]  # nothing hidden beside it


def test_an_empty_folder_and_an_earlier_result_set_are_accepted(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with results.atomic_dir(empty) as tmp:
        (tmp / "run.json").write_text(MANIFEST)
    with results.atomic_dir(empty) as tmp:  # now a result set: replaced
        (tmp / "run.json").write_text(MANIFEST)
    assert sorted(p.name for p in empty.iterdir()) == ["run.json"]


@pytest.mark.parametrize("name, body", [("run.json", "not json"), ("run.json", '{"other": 1}'), ("run.json", "[1]"),
                                        ("notes.json", MANIFEST)])
def test_a_manifest_must_be_this_programs_own(tmp_path, name, body):
    out = tmp_path / "o"
    out.mkdir()
    (out / name).write_text(body)
    assert not results.is_result_set(out)
    with pytest.raises(OptionError):
        with results.atomic_dir(out):
            pass
    assert [p.name for p in out.iterdir()] == [name]


def test_a_replaced_set_keeps_its_mode_and_group_and_a_new_one_follows_the_umask(tmp_path):
    out = tmp_path / "o"
    with results.atomic_dir(out) as tmp:
        (tmp / "run.json").write_text(MANIFEST)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~results._umask()
    os.chmod(out, 0o2750)
    gid = next((g for g in os.getgroups() if g != out.stat().st_gid), None)
    if os.geteuid() == 0:
        gid = 4321
    if gid is not None:
        os.chown(out, -1, gid)
    with results.atomic_dir(out) as tmp:
        (tmp / "run.json").write_text(MANIFEST)
    assert stat.S_IMODE(out.stat().st_mode) == 0o2750
    if gid is not None:
        assert out.stat().st_gid == gid


def test_cleaning_never_enters_another_filesystem(tmp_path, monkeypatch):
    """A directory that is a mount point is left whole, with what is on it, by every removal."""
    tree = tmp_path / "t"
    (tree / "a" / "mnt").mkdir(parents=True)
    (tree / "a" / "mnt" / "precious").write_text("x")
    (tree / "a" / "file").write_text("y")
    mnt = str(tree / "a" / "mnt")
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: os.fspath(p) == mnt or real(p))
    results.remove_tree(tree)
    assert (tree / "a" / "mnt" / "precious").read_text() == "x"
    assert not (tree / "a" / "file").exists()


def test_cleaning_stops_at_a_real_mount(tmp_path):
    """The same with a real tmpfs mounted inside a stale temporary (needs root)."""
    stale = tmp_path / ".run.tmp-999999999-x"  # a pid that cannot be alive
    (stale / "mnt").mkdir(parents=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(stale / "mnt")],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (stale / "mnt" / "precious").write_text("x")
        results.clean_stale(tmp_path / "run")
        assert (stale / "mnt" / "precious").read_text() == "x"
    finally:
        subprocess.run(["umount", str(stale / "mnt")], check=False)


def test_a_run_without_claims_leaves_no_rate_table_of_an_earlier_run(tmp_path):
    """A result set is the new run's files only: rate_adequacy.csv of a run with claims does not
    outlive a run of the same folder without them; the review database is kept."""
    from scoring.jobs import run_score

    w = world(200, 5)
    assert "claims" in w.tables
    with_claims = write_submission(w, tmp_path / "a")
    without = tmp_path / "b"
    without.mkdir()
    for f in with_claims.iterdir():
        if f.name != "claims.csv":
            (without / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "run"
    run_score(with_claims, out)
    assert (out / "rate_adequacy.csv").exists()
    (out / "review.sqlite").write_bytes(b"verdicts")
    run_score(without, out)
    assert not (out / "rate_adequacy.csv").exists()
    assert (out / "review.sqlite").read_bytes() == b"verdicts"
    assert json.loads((out / "run.json").read_text())["submission"].endswith("b")


@pytest.mark.parametrize("errno_name, says", [("ENOSPC", "磁盘空间已满"), ("EROFS", "文件系统为只读")])
def test_a_full_disk_or_read_only_folder_is_said_not_a_traceback(sub, tmp_path, monkeypatch, errno_name, says):
    """The disk fills (or the folder is read-only) while results are written: a bilingual message
    naming the file, exit 1, earlier results unchanged, no temporary left."""
    import errno

    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["score", str(sub), "--out", str(out), "--quiet"]).exit_code == 0
    before = (out / "policy_scores.csv").read_bytes()
    real = writers.write_csv

    def full(df, path):
        if str(path).endswith("findings.csv"):
            raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)), str(path))
        return real(df, path)

    monkeypatch.setattr(writers, "write_csv", full)
    import scoring.jobs

    monkeypatch.setattr(scoring.jobs, "write_csv", full)
    for command in (["score", str(sub), "--out", str(out), "--quiet"], ["validate", str(sub), "--out", str(tmp_path / "v")]):
        if command[0] == "validate":
            monkeypatch.setattr(scoring.jobs, "write_csv", lambda df, path: full(df, str(path).replace("rejected", "findings")))
        r = CliRunner().invoke(app, command)
        assert r.exit_code == 1, r.output
        assert says in r.output and "Traceback" not in r.output and "findings.csv" in r.output
    assert (out / "policy_scores.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
