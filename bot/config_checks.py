"""The config's checks that span keys or need more than a type (a type and a sign are checked
as each value is read). Each error names the key and the value."""

from __future__ import annotations

from index.models import BACKEND_PRECISIONS, BACKENDS, model_problem

from .config_schema import (
    ChatSection,
    Config,
    ConfigError,
    CorpusSection,
    GapsSection,
    InlineSection,
    StateSection,
    TelegramSection,
    WebSection,
)
from .gap_schedule import parse_digest
from .i18n import LANGUAGES as REPLY_LANGUAGES

__all__ = ["validate"]


def validate(config: Config) -> None:
    """Raise ConfigError for the first setting that cannot work."""
    _check_index(config)
    _check_retrieval(config)
    _check_chat(config.chat)
    _check_gaps(config.gaps)
    _check_inline(config.inline)
    _check_telegram(config.telegram)
    _check_corpus(config.corpus)
    _check_state(config.state)
    _check_web(config.web)


def _at_least_one(key: str, count: int) -> None:
    """For counts where 0 would do nothing, or break, rather than switch something off."""
    if count < 1:
        raise ConfigError(f"Config '{key}' must be at least 1, not {count}.")


def _check_index(config: Config) -> None:
    index, build = config.index, config.build
    if index.backend not in BACKENDS:
        raise ConfigError(
            f"Config 'index.backend' must be one of {', '.join(BACKENDS)}, not {index.backend!r}."
        )
    if index.precision not in BACKEND_PRECISIONS[index.backend]:
        raise ConfigError(
            f"Config 'index.precision' must be one of "
            f"{', '.join(BACKEND_PRECISIONS[index.backend])} with index.backend = "
            f"{index.backend!r}, not {index.precision!r}."
        )
    if problem := model_problem(
        index.model, index.backend, build.query_prefix, build.passage_prefix
    ):
        raise ConfigError(
            f"Config 'index.model' {index.model!r} with index.backend = {index.backend!r}: "
            f"{problem}."
        )
    other = index.other_languages_model
    if other and (problem := model_problem(other, index.backend)):
        raise ConfigError(
            f"Config 'index.other_languages_model' {other!r} with index.backend = "
            f"{index.backend!r}: {problem}."
        )
    if build.max_words < 10:
        raise ConfigError(f"Config 'index.max_words' must be at least 10, not {build.max_words}.")
    if build.min_words > build.max_words:
        raise ConfigError(
            f"Config 'index.min_words' ({build.min_words}) must not exceed 'index.max_words' "
            f"({build.max_words})."
        )
    if build.hnsw_ef_search < 16:
        raise ConfigError(
            f"Config 'index.hnsw_ef_search' must be at least 16, not {build.hnsw_ef_search}."
        )
    _at_least_one("index.batch_size", index.batch_size)


def _check_retrieval(config: Config) -> None:
    retrieval = config.retrieval
    for key in ("depth", "answer_sentences", "answer_passages", "top_k"):
        _at_least_one(f"retrieval.{key}", getattr(retrieval, key))
    if not 0 <= retrieval.hedge <= retrieval.gate <= 1:
        raise ConfigError(
            f"Config 'retrieval.hedge' ({retrieval.hedge}) and 'retrieval.gate' "
            f"({retrieval.gate}) must satisfy 0 <= hedge <= gate <= 1."
        )
    if not 0 <= retrieval.decline <= 1:
        raise ConfigError(f"Config 'retrieval.decline' ({retrieval.decline}) must be from 0 to 1.")
    if retrieval.reader_max_passages < 0:
        raise ConfigError(
            f"Config 'retrieval.reader_max_passages' must be 0 (no reader) or more, not "
            f"{retrieval.reader_max_passages}."
        )
    if not 0 < retrieval.duplicate_overlap <= 1:
        raise ConfigError(
            f"Config 'retrieval.duplicate_overlap' must be above 0 and at most 1, not "
            f"{retrieval.duplicate_overlap}."
        )


def _check_chat(chat: ChatSection) -> None:
    _at_least_one("chat.max_question_chars", chat.max_question_chars)
    _at_least_one("chat.poison_attempts", chat.poison_attempts)
    if chat.default_language not in REPLY_LANGUAGES:
        raise ConfigError(
            f"Config 'chat.default_language' must be one of {', '.join(REPLY_LANGUAGES)}, not "
            f"{chat.default_language!r}."
        )
    if chat.prune_every_minutes <= 0:
        raise ConfigError(
            f"Config 'chat.prune_every_minutes' must be more than 0, not "
            f"{chat.prune_every_minutes}."
        )


def _check_gaps(gaps: GapsSection) -> None:
    if not 0 < gaps.threshold <= 1:
        raise ConfigError(
            f"Config 'gaps.threshold' must be a cosine above 0 and at most 1, "
            f"not {gaps.threshold}."
        )
    if gaps.top < 1:
        raise ConfigError(f"Config 'gaps.top' must be at least 1, not {gaps.top}.")
    try:
        parse_digest(gaps.digest)
    except ValueError as exc:
        raise ConfigError(f"Config 'gaps.digest' {gaps.digest!r}: {exc}.") from None


def _check_inline(inline: InlineSection) -> None:
    if not 0 < inline.answer_seconds <= 8:
        raise ConfigError(
            f"Config 'inline.answer_seconds' must be above 0 and at most 8 (Telegram gives up "
            f"on an answer after about 10 s), not {inline.answer_seconds}."
        )
    if not 0 <= inline.cache_seconds <= 86400:
        raise ConfigError(
            f"Config 'inline.cache_seconds' must be 0 to 86400, not {inline.cache_seconds}."
        )
    if not 1 <= inline.results <= 50:
        raise ConfigError(f"Config 'inline.results' must be 1 to 50, not {inline.results}.")
    _at_least_one("inline.min_chars", inline.min_chars)


def _check_telegram(telegram: TelegramSection) -> None:
    if telegram.timeout_seconds <= 0:
        raise ConfigError(
            f"Config 'telegram.timeout_seconds' must be positive, not {telegram.timeout_seconds}."
        )
    for key in ("messages_per_second", "group_messages_per_minute"):
        if getattr(telegram, key) < 0:
            raise ConfigError(
                f"Config 'telegram.{key}' must be 0 (no limit) or more, "
                f"not {getattr(telegram, key)}."
            )
    _at_least_one("telegram.send_attempts", telegram.send_attempts)
    url = telegram.base_url
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"Config 'telegram.base_url' must be an http(s) URL, not {url!r}.")


def _check_corpus(corpus: CorpusSection) -> None:
    for key in ("max_document_mb", "fetch_timeout_seconds", "fetch_max_mb", "upload_max_mb"):
        if getattr(corpus, key) <= 0:
            raise ConfigError(
                f"Config 'corpus.{key}' must be more than 0, not {getattr(corpus, key)}."
            )


def _check_state(state: StateSection) -> None:
    if state.url and not state.url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(  # never the URL itself: it may hold a password
            "Config 'state.url' must be a postgresql:// URL (or empty, for the SQLite file "
            f"chat.state_path), not one starting {state.url.partition(':')[0]!r}."
        )
    _at_least_one("state.pool_size", state.pool_size)


def _check_web(web: WebSection) -> None:
    if not web.webhook_path.startswith("/"):
        raise ConfigError(
            f"Config 'web.webhook_path' must start with '/', not {web.webhook_path!r}."
        )
    if web.webhook_url and not web.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"Config 'web.webhook_url' must be an http(s) URL, not {web.webhook_url!r}."
        )
    if web.port > 65535:
        raise ConfigError(f"Config 'web.port' must be a port number, not {web.port}.")
    if web.admin_session_minutes <= 0:
        raise ConfigError(
            f"Config 'web.admin_session_minutes' must be more than 0, not "
            f"{web.admin_session_minutes}."
        )
