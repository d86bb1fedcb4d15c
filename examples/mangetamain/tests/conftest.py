"""Fixtures: a real git checkout of a copy of the app."""

import shutil
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1]


def git(cwd, *args):
    """Runs git in ``cwd`` and returns its output."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(cwd),
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A copy of the app committed in a fresh git repository; returns its directory."""
    root = tmp_path / "app"
    shutil.copytree(
        APP,
        root,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "__pycache__",
            "htmlcov",
            ".coverage",
            ".run",
            "revision.txt",
        ),
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "app")
    return root
