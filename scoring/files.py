"""Files and directories a run writes: content digests, and result sets replaced whole.

A result set (a run, a validation, a dataset, a model) is written into a temporary directory
beside its place and switched in with one rename (:func:`atomic_dir`), so a reader sees the old
set or the new one, never a mix. Only a directory this program wrote is ever replaced
(:func:`is_result_set`); removal never leaves its own file system (:func:`remove_tree`); what a
killed run left beside it is removed by the next (:func:`clean_stale`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from scoring.messages import render

_CHUNK = 1 << 24


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


_KNOWN: dict[tuple, str] = {}


def sha256_known(path: Path) -> str:
    """:func:`sha256_file`, remembered while the file's inode, size and modification time stay the
    same: a dataset's files are hashed when it is verified and again for its digest."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _KNOWN:
        _KNOWN[key] = sha256_file(path)
    return _KNOWN[key]


#: What marks a directory as one this program wrote, by the file that describes it and a key that
#: file always holds: a run (``score``), a validation, a dataset (``convert``), a model.
MANIFESTS = {"run.json": "tool_version", "validation.json": "tables", "convert.json": "partitioning",
             "metadata.json": "artifact_sha256", "estimate.json": "estimates"}
#: Entries of an earlier result set that a new one keeps, by name: the review database (and the
#: files SQLite keeps beside it), which other commands write into a run directory.
KEPT = ("review.sqlite", "review.sqlite-wal", "review.sqlite-shm")


def result_kind(path) -> str | None:
    """Which kind of result set ``path`` is (the name of its manifest in :data:`MANIFESTS`), or None
    for a directory this program did not write."""
    path = Path(path)
    for name, key in MANIFESTS.items():
        f = path / name
        if f.is_file() and not f.is_symlink():
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            if isinstance(doc, dict) and key in doc:
                return name
    return None


def is_result_set(path) -> bool:
    """Whether ``path`` is a directory this program wrote: it holds one of :data:`MANIFESTS`."""
    return result_kind(path) is not None


def _holds_only_kept(path: Path) -> bool:
    """Whether a directory is empty but for what a result set keeps (:data:`KEPT`): a review
    database opened on a folder before it was scored."""
    return all(p.name in KEPT for p in path.iterdir())


def _refuse_foreign(out: Path, option: str, kind: str | None = None, inputs=()) -> None:
    """Refuse an output directory that is not this program's to replace: a link, a directory with
    contents that this program did not write, a result set of another kind (``kind``: the manifest
    the new set writes), the folder the command runs in (or one holding it), and any of ``inputs``
    (the submission, the model) or a folder inside or around one of them."""
    from scoring.errors import OptionError
    from scoring.messages import render

    if out.is_symlink():
        raise OptionError(*render("out_is_link", option=option, out=out))
    here, target = Path.cwd().resolve(), out.resolve()
    if here == target or target in here.parents:
        raise OptionError(*render("out_holds_cwd", option=option, out=out))
    for given in inputs:
        if not isinstance(given, (str, os.PathLike)):  # a submission already read, or none
            continue
        src = Path(given).resolve()
        if target == src or target in src.parents or src in target.parents:
            raise OptionError(*render("out_is_input", option=option, out=out, input=given))
    if not out.is_dir() or _holds_only_kept(out):
        return
    found = result_kind(out)
    if found is None:
        raise OptionError(*render("out_not_ours", option=option, out=out, manifests=", ".join(MANIFESTS)))
    if kind is not None and found != kind:
        raise OptionError(*render("out_other_kind", option=option, out=out, found=MANIFEST_ZH[found][0],
                                  found_en=MANIFEST_ZH[found][1], kind=MANIFEST_ZH[kind][0], kind_en=MANIFEST_ZH[kind][1]))


#: What each kind of result set is, in Chinese and English, for messages.
MANIFEST_ZH = {"run.json": render('files.module'), "validation.json": render('files.module.2'),
               "convert.json": render('files.module.3'), "metadata.json": render('files.module.4'),
               "estimate.json": render('files.module.5')}


def check_output_dir(out, option: str = "--out", kind: str | None = None, inputs=()) -> None:
    """Refuse, before any work, an output directory that is an existing file, a link, not this
    program's to replace (:func:`_refuse_foreign`: ``kind`` the manifest the new set writes,
    ``inputs`` paths it must not touch), or whose nearest existing parent cannot be written."""
    from scoring.errors import OptionError
    from scoring.messages import render

    out = Path(out)
    if out.exists() and not out.is_dir() and not out.is_symlink():
        raise OptionError(*render("out_is_file", option=option, out=out))
    _refuse_foreign(out, option, kind, inputs)
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OptionError(*render("out_parent_file", option=option, out=out, parent=parent))
    if not os.access(parent, os.W_OK | os.X_OK):  # the new set is made beside ``out``
        raise OptionError(*render("out_not_writable", option=option, out=out, parent=parent))


def replace_file(out, write) -> None:
    """Write a single file whole or not at all: ``write(tmp)`` fills a hidden temporary beside
    ``out``, which then replaces it in one rename; on any error the temporary is removed and
    ``out`` is left as it was (an OSError names ``out``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:
            e.filename = str(out)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_tree(path) -> None:
    """Remove ``path`` and what it holds without ever leaving its filesystem: a directory that is a
    mount point (another filesystem, or a bind mount of the same one) is left as it is, with its
    parents. Links are removed, never followed. Errors are ignored, as ``shutil.rmtree(...,
    ignore_errors=True)`` does."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not os.path.isdir(path) or os.path.islink(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return

    def walk(d: str, dev: int) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError:
            return
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.stat(follow_symlinks=False).st_dev != dev or os.path.ismount(e.path):
                        continue  # another filesystem: not ours to clean
                    walk(e.path, dev)
                    os.rmdir(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                continue

    walk(str(path), st.st_dev)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _take_mode(tmp: Path, out: Path | None) -> None:
    """Give the new directory the mode and group of the one it replaces (``out``), or, for a new
    one, the mode a plain ``mkdir`` would give (a temporary directory is made 0700)."""
    if out is None:
        os.chmod(tmp, 0o777 & ~_umask())
        return
    st = os.stat(out)
    os.chmod(tmp, st.st_mode & 0o7777)
    with contextlib.suppress(OSError):  # a group the user is not in cannot be given; the mode still is
        os.chown(tmp, -1, st.st_gid)


_TMP, _OLD, _SPILL = "tmp", "old", "spill"


def _sibling(out: Path, kind: str) -> Path:
    """A fresh hidden sibling of ``out`` whose name says whose it is: ``.NAME.KIND-PID-XXXX``."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{kind}-{os.getpid()}-", dir=out.parent))


def scratch_dir(out: Path) -> Path:
    """A fresh hidden directory beside ``out`` for a run's intermediate files
    (:class:`scoring.spill.Spill`); one a killed run leaves is removed by :func:`clean_stale`."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return _sibling(Path(out), _SPILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove what killed runs left beside ``out``: temporary result sets and scratch
    directories of processes that no longer exist. A previous result set left aside by a run
    killed mid-swap is put back when ``out`` is missing. Returns the paths removed."""
    import glob

    removed = []
    for p in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*-*")):
        kind, _, rest = p.name[len(out.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in (_TMP, _OLD, _SPILL) or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == _OLD and not out.exists() and (p / "set").is_dir():
            os.replace(p / "set", out)
        remove_tree(p)
        removed.append(p)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _carry_over(out: Path, tmp: Path) -> None:
    """Give the new set the entries of ``out`` kept by name (:data:`KEPT`: the review database), as
    hard links where possible, so that the old set stays whole until the swap. Nothing else of
    the old set survives: a result set holds the new run's files only."""
    for name in KEPT:
        p = out / name
        dest = tmp / name
        if not p.is_file() or p.is_symlink() or dest.exists() or dest.is_symlink():
            continue
        _link_or_copy(p, dest)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


@contextlib.contextmanager
def atomic_dir(out: Path, option: str = "--out", kind: str | None = None, inputs=()):
    """Yield a temporary directory beside ``out``; on success it replaces ``out`` as a whole.

    The switch is one rename: a reader sees the old result set or the new one, never a mix.
    Only an earlier result set of this program is replaced (:func:`is_result_set`; anything else
    that is not empty is refused with :class:`~scoring.errors.OptionError`), and the new one takes
    its mode and group. Of the old set only the entries in :data:`KEPT` (the review database) are
    carried over. On an exception the temporary directory is removed and ``out`` is left
    untouched; temporaries of killed runs are removed on the next run (:func:`clean_stale`).
    Removal never crosses into another filesystem (:func:`remove_tree`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    _refuse_foreign(out, option, kind, inputs)
    tmp = _sibling(out, _TMP)
    try:
        try:
            yield tmp
        except OSError as e:  # a full disk names the result set, where the writer's error named no file
            if e.filename is None:
                e.filename = str(out)
            raise
        existed = out.is_dir()
        if existed:
            _carry_over(out, tmp)
        _take_mode(tmp, out if existed else None)
    except BaseException:
        remove_tree(tmp)
        raise
    if not out.exists():
        os.replace(tmp, out)
        return
    if _exchange(tmp, out):  # tmp now holds the old set
        remove_tree(tmp)
        return
    old = _sibling(out, _OLD)  # elsewhere: two renames; between them out is briefly absent, never mixed
    os.replace(out, old / "set")
    os.replace(tmp, out)
    remove_tree(old)
