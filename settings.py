"""The one settings object for newsqa: environment variables prefixed ``NEWSQA_``.

Read once per process through :func:`get_settings`; command-line flags and the UI
override fields with ``settings.model_copy(update=...)`` rather than reading the
environment again. Tests point ``NEWSQA_DATA_DIR`` at a tmp dir and call
``get_settings.cache_clear()``.

Model files (the joined GGUF) live in ``model_cache_dir``, not in ``data_dir``, so a
throwaway index does not mean re-assembling a 1 GB model.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "newsqa"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="ignore")

    # Index state: the Chroma store (when embedded), the catalog and keyword index.
    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"))
    collection: str = "news"
    # Empty: embedded Chroma under data_dir. A URL (http://host:port): a Chroma server.
    chroma_url: str = ""
    # Empty: each collection's catalog and keyword index is a SQLite file under data_dir.
    # postgresql://user:password@host:port/db: in that database, shared by every app
    # server and ingest machine pointed at it (needs chroma_url: the vectors are shared
    # too). Writers take turns per batch; one waits at most db_lock_wait seconds. Left
    # out of the settings' repr: the URL holds the password.
    database_url: str = Field(default="", repr=False)
    db_lock_wait: float = 600.0

    # Ingestion.
    chunk_chars: int = 500  # soft upper bound of a chunk; a longer sentence stays whole
    max_article_bytes: int = 2_000_000
    ingest_batch: int = 64  # articles committed together; a crash loses at most one batch
    embed_batch: int = 32
    # "auto": bf16 autocast where the CPU has native bf16, else fp32 (BENCHMARKS.md).
    embed_precision: str = "auto"

    # Answering. llm: "llamacpp:qwen2.5-1.5b" (default), "llamacpp:qwen2.5-0.5b", or
    # "openai:MODEL" for any OpenAI-compatible server at openai_base_url.
    llm: str = "llamacpp:qwen2.5-1.5b"
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key: str = "not-needed"
    llm_ctx: int = 2048
    llm_max_tokens: int = 160
    context_tokens: int = 400  # budget for the evidence shown to the model
    max_sources: int = 4  # articles shown to the model
    retrieve_articles: int = 10  # articles retrieved (and reported) per question
    max_question_chars: int = 1000
    # Date-aware retrieval (assistant/dates.py): a question's date expression ("this
    # week", "in March 2021") makes articles published in its window rank higher, with
    # this weight; without one, articles of the recency_days before as_of get a milder
    # boost. Weights are relative to the unfiltered searches' 1.0.
    date_weight: float = 1.0
    # A current expression ("this week", "yesterday", "on Tuesday", "this month") also
    # filters: only articles published in its window are read (none there: relaxed_days).
    strict_dates: bool = True
    # Where nothing of a current window was retrieved, the relaxed_days before its end
    # are read instead, and the answer says the date of its reports; 0: refused.
    relaxed_days: int = 30
    recency_days: int = 30
    recency_weight: float = 0.5
    # A question that names no period is about the news before as_of: where articles
    # of its recency_days were retrieved, an answer citing only articles more than
    # stale_days older is refused (assistant/staleness.py); 0 turns it off.
    stale_days: int = 30
    # Refuse when less than this share of an answer's new names and numbers appear in
    # the sources shown to the model (assistant/support.py).
    min_fact_support: float = 0.5
    # A citation is kept only where source n supports its sentence at least this much
    # (share of the sentence's new words in one source sentence; assistant/verify.py).
    citation_threshold: float = 0.5
    # A kept citation stays only where the model's P(the cited sentence states the
    # answer sentence) reaches this (assistant/claims.py); 0, the default, is off: with
    # the default 1.5B model it refused right answers too (BENCHMARKS.md, issue #25).
    claim_threshold: float = 0.0
    # Refuse when the model's P(the sources answer the question) is below this; unset,
    # the threshold calibrated for the local model chosen (0.8 for the default, and for
    # models served elsewhere), see assistant/models.py and BENCHMARKS.md.
    refusal_threshold: float | None = None

    # The browser chat (app.py). Set both user and password to require a login; a host
    # other than loopback without one refuses to start unless allow_anonymous says the
    # chat is meant to be open (ui/access.py).
    host: str = "127.0.0.1"
    port: int = 7860
    ui_user: str = ""
    ui_password: SecretStr = SecretStr("")
    allow_anonymous: bool = False
    upload_max_bytes: int = 20_000_000  # per uploaded file in the Articles tab
    # Host names (comma- or space-separated; "*.example.org" for a domain's hosts) the
    # server answers to besides loopback's: a request with any other Host header is
    # refused (400), so a web page cannot reach the server by DNS rebinding
    # (assistant/guard.py).
    allowed_hosts: str = ""
    # The OpenAI-compatible API and MCP over HTTP (assistant/api_access.py): when set,
    # requests must send it as "Authorization: Bearer KEY"; else the UI login, if any.
    api_key: SecretStr = SecretStr("")
    # How many generations the chat, /ask, /v1 and MCP run at once, all together
    # (assistant/slot.py). Raise it with an openai: model whose server answers several
    # at once; the in-process llama.cpp model always runs one (it says so at start).
    ui_concurrency: int = Field(default=1, ge=1)

    # Fetching feeds and pages (index/fetching.py), politely: who we are, how long we
    # wait, how often we ask one host, how much we read. Addresses on loopback or
    # private networks are refused unless fetch_allow_private is set, so a feed URL
    # cannot be used to probe the server's own network.
    user_agent: str = "newsqa/0.1 (news index; polls feeds its users added)"
    fetch_connect_timeout: float = 10.0
    fetch_read_timeout: float = 20.0  # between two reads of one response
    fetch_total_timeout: float = 60.0  # a whole response, however slowly it drips
    fetch_host_delay: float = 1.0  # seconds between two requests to one host
    fetch_max_bytes: int = 5_000_000  # a bigger page or feed is refused, never read whole
    fetch_max_redirects: int = 5
    fetch_workers: int = 4  # pages fetched at once (one at a time per host)
    fetch_allow_private: bool = False
    feed_backoff_max: float = 6 * 3600.0  # a failing feed waits 2^n min, at most this
    # "15m", "1h", "900": app.py polls the collection's feeds in the background that
    # often; empty: off.
    watch_every: str = ""

    # Where joined model files are cached (shared by every data dir).
    model_cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings; a bad variable is an ``InvalidInput`` naming it, not a traceback."""
    from pydantic import ValidationError

    from index.errors import InvalidInput  # here: index imports this module

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"NEWSQA_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
            for e in error.errors()
        )
        raise InvalidInput(f"bad setting: {problems}") from None
