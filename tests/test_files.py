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
from scoring import OptionError

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
    from scoring import score as run_score

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


@pytest.mark.parametrize("dangling", [False, True])
def test_a_link_given_as_out_is_refused(sub, tmp_path, dangling):
    target = tmp_path / "theirs"
    if not dangling:
        target.mkdir()
        (target / "mine.txt").write_text("hi")
    (tmp_path / "l").symlink_to(target)
    r = CliRunner().invoke(app, ["validate", str(sub), "--out", str(tmp_path / "l")])
    assert r.exit_code == 2 and "符号链接" in r.output and "symbolic link" in r.output
    assert (tmp_path / "l").is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == sorted(["l"] + ([] if dangling else ["theirs"]))


def test_a_result_set_of_another_kind_or_an_input_is_never_replaced(sub, tmp_path):
    runner = CliRunner()
    ds = tmp_path / "ds"
    assert runner.invoke(app, ["convert", str(sub), "--out", str(ds)]).exit_code == 0
    before = sorted(str(p.relative_to(ds)) for p in ds.rglob("*"))
    for args, says in ((["score", str(ds), "--out", str(ds), "--quiet"], "与输入"),  # the dataset is the submission
                       (["score", str(sub), "--out", str(ds), "--quiet"], "转换后的数据集"),  # another kind
                       (["validate", str(sub), "--out", str(ds)], "转换后的数据集"),
                       (["score", str(sub), "--out", str(sub / "run"), "--quiet"], "与输入")):  # inside the submission
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and says in r.output, (args, r.output)
    assert sorted(str(p.relative_to(ds)) for p in ds.rglob("*")) == before
    assert not (sub / "run").exists()


def test_the_model_given_is_not_an_output(sub, tmp_path):
    import shutil

    from scoring.jobs import default_model_dir

    model = tmp_path / "m"
    shutil.copytree(default_model_dir(), model)
    r = CliRunner().invoke(app, ["score", str(sub), "--model", str(model), "--out", str(model), "--quiet"])
    assert r.exit_code == 2 and "与输入" in r.output and (model / "metadata.json").exists()


def test_the_folder_one_stands_in_is_not_an_output(sub, tmp_path, monkeypatch):
    out = tmp_path / "here"
    with results.atomic_dir(out) as tmp:
        (tmp / "validation.json").write_text('{"tables": {}}')
    monkeypatch.chdir(out)
    r = CliRunner().invoke(app, ["validate", str(sub), "--out", "."])
    assert r.exit_code == 2 and "当前所在的文件夹" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"] and [p.name for p in out.iterdir()] == ["validation.json"]


def test_a_folder_holding_only_a_review_database_counts_as_empty(sub, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "review.sqlite").write_bytes(b"x")
    assert CliRunner().invoke(app, ["validate", str(sub), "--out", str(out)]).exit_code == 0
    assert (out / "review.sqlite").read_bytes() == b"x" and (out / "rejected.csv").exists()


def test_a_registry_in_a_users_folder_is_refused_without_a_trace(sub, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    r = CliRunner().invoke(app, ["retrain", str(sub), "--registry", str(folder)])
    assert r.exit_code == 1 and "不是模型注册库" in r.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
