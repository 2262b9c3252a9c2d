"""A bad NEWSQA_ variable is one clear error naming it, at every entry point."""

import subprocess
import sys

import pytest

from index.errors import InvalidInput
from settings import get_settings
from tests.conftest import ROOT


def test_a_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_PORT", "seventy")
    get_settings.cache_clear()
    with pytest.raises(InvalidInput, match=r"NEWSQA_PORT='seventy'.*integer"):
        get_settings()


def test_the_cli_says_it_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_ALLOW_ANONYMOUS", "maybe")
    done = subprocess.run(
        [sys.executable, "-m", "index", "stats"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: bad setting: NEWSQA_ALLOW_ANONYMOUS='maybe': Input should be a valid boolean, "
        "unable to interpret input"
    ]


def test_the_database_password_stays_out_of_the_settings_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSQA_DATABASE_URL", "postgresql://newsqa:s3cret-pw@127.0.0.1/newsqa")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.database_url.endswith("@127.0.0.1/newsqa")
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings)
    get_settings.cache_clear()
