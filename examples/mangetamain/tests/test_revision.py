"""Tests of the revision record and of reading a checkout without git."""

import pytest

from mangetamain import revision as rev
from tests.conftest import git


def test_checkout_revision_follows_the_branch_ref(checkout):
    assert rev.checkout_revision(checkout) == git(checkout, "rev-parse", "HEAD")


def test_checkout_revision_reads_packed_refs(checkout):
    sha = git(checkout, "rev-parse", "HEAD")
    git(checkout, "pack-refs", "--all", "--prune")
    assert not (checkout / ".git/refs/heads/main").exists()
    assert rev.checkout_revision(checkout) == sha


def test_checkout_revision_of_a_detached_head(checkout):
    sha = git(checkout, "rev-parse", "HEAD")
    git(checkout, "checkout", "-q", "--detach", sha)
    assert rev.checkout_revision(checkout) == sha


def test_checkout_revision_of_a_worktree(checkout, tmp_path):
    sha = git(checkout, "rev-parse", "HEAD")
    git(checkout, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    assert rev.checkout_revision(tmp_path / "wt") == sha
    git(checkout, "pack-refs", "--all", "--prune")
    assert rev.checkout_revision(tmp_path / "wt") == sha


def test_checkout_revision_errors(tmp_path):
    with pytest.raises(rev.RevisionError, match="not a git checkout"):
        rev.checkout_revision(tmp_path)
    (tmp_path / ".git").write_text("nonsense\n")
    with pytest.raises(rev.RevisionError, match="not a git link file"):
        rev.checkout_revision(tmp_path)
    (tmp_path / ".git").unlink()
    (tmp_path / ".git").mkdir()
    with pytest.raises(rev.RevisionError, match="cannot read"):
        rev.checkout_revision(tmp_path)
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/main\n")
    with pytest.raises(rev.RevisionError, match="names no commit"):
        rev.checkout_revision(tmp_path)
    (tmp_path / ".git/HEAD").write_text("not-a-sha\n")
    with pytest.raises(rev.RevisionError, match="is not a commit"):
        rev.checkout_revision(tmp_path)


def test_records_round_trip_and_name_the_app(tmp_path):
    record = rev.new_revision("a" * 40, 1234)
    path = rev.write_revision(tmp_path, record)
    assert path == tmp_path / "static/revision.txt"
    text = path.read_text()
    assert text.startswith("Mangetamain\n")
    assert f"revision: {'a' * 40}\n" in text
    assert rev.read_revision(tmp_path) == record
    assert list((tmp_path / "static").iterdir()) == [path]


def test_malformed_or_missing_records_read_as_none(tmp_path):
    assert rev.read_revision(tmp_path) is None
    (tmp_path / "static").mkdir()
    (tmp_path / "static/revision.txt").write_text("Mangetamain\nrevision: x\npid: y\n")
    assert rev.read_revision(tmp_path) is None
    with pytest.raises(rev.RevisionError):
        rev.Revision.parse("Mangetamain\n")


def test_remove_revision_only_removes_its_own(tmp_path):
    assert rev.remove_revision(tmp_path) is False
    rev.write_revision(tmp_path, rev.new_revision("b" * 40, 42))
    assert rev.remove_revision(tmp_path, pid=7) is False
    assert rev.read_revision(tmp_path) is not None
    assert rev.remove_revision(tmp_path, pid=42) is True
    assert rev.remove_revision(tmp_path, pid=42) is False
    rev.write_revision(tmp_path, rev.new_revision("b" * 40, 42))
    assert rev.remove_revision(tmp_path) is True
