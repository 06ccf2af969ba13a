"""config.toml -> typed, checked settings. A wrong or missing key fails at start, naming it."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.models import (
    BACKEND_PRECISIONS,
    BACKENDS,
    BUNDLED_MODEL,
    embedding_id,
    model_problem,
)
from index.settings import MAX_DOCUMENT_BYTES, BuildSettings, FetchSettings, RankingSettings

from .gap_schedule import parse_digest
from .i18n import LANGUAGES as REPLY_LANGUAGES

__all__ = ["Config", "ConfigError", "Secret", "defaults", "load_config"]

_MB = 1024 * 1024
_FETCH = FetchSettings()

# config.toml sets these fields of the engine's settings directly, with their defaults: [index]
# these of BuildSettings, [retrieval] these of RankingSettings (the others keep their defaults).
INDEX_BUILD_KEYS = (
    "max_words",
    "min_words",
    "overlap",
    "hnsw_above",  # exact FAISS search up to this many passages
    "hnsw_ef_search",  # HNSW efSearch per 250,000 passages (at least)
    "sentence_pq_above",  # PQ-coded sentence vectors above this
    "query_prefix",
    "passage_prefix",
)
RETRIEVAL_KEYS = (
    "top_k",
    "depth",
    "keyword_weight",
    "dense_weight",
    "sentence_keyword_weight",
    "bigram_weight",
    "sentence_weight",
    "duplicate_cosine",
    "duplicate_overlap",
    "date_margin",
    "gate",
    "hedge",
    "type_weight",
    "definition_weight",
    "answer_sentences",
    "context_margin",
    "answer_passages",
    "answer_rank_penalty",
)


class ConfigError(Exception):
    """The configuration is wrong; the message names the key and the value."""


class Secret:
    """A value that never shows in a repr, a log line or a traceback."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def get(self) -> str:
        return self._value


@dataclass(frozen=True, slots=True)
class CorpusSection:
    path: Path = Path("corpus")
    max_document_mb: float = MAX_DOCUMENT_BYTES / _MB
    fetch_timeout_seconds: float = _FETCH.timeout  # /add and `storybot add URL`: whole request
    fetch_max_mb: float = _FETCH.max_bytes / _MB  # a page larger than this is refused
    fetch_max_redirects: int = _FETCH.max_redirects
    upload_max_mb: float = 20.0  # uploaded files (the Bot API serves bots at most 20 MB)
    watch_debounce_seconds: float = 2.0  # `serve --watch`: quiet time before reindexing


@dataclass(frozen=True, slots=True)
class FetchSection:
    # /add may fetch local and private addresses (intranet)
    allow_private_networks: bool = _FETCH.allow_private_networks


@dataclass(frozen=True, slots=True)
class IndexSection:
    path: Path = Path("index/data")
    model: str = BUNDLED_MODEL
    batch_size: int = 32
    threads: int = 0  # 0: the backend's default
    backend: str = "torch"  # or "onnx": onnxruntime, no torch when serving (see config.toml)
    precision: str = "float32"  # torch: or "bfloat16"; onnx: or "int8"
    onnx_cache: Path = Path("index/onnx")  # exported ONNX models, one folder per model+settings
    query_cache: int = 4096  # vectors of the last N distinct questions kept (0: none)


@dataclass(frozen=True, slots=True)
class ChatSection:
    context_minutes: float = 30.0
    state_path: Path = Path("state/storybot.sqlite3")
    max_question_chars: int = 1000
    flood_questions: int = 6  # a user asking more than this many questions ...
    flood_seconds: float = 20.0  # ... within this many seconds is asked to slow down
    typing_after_seconds: float = 0.5  # show "typing..." only for answers slower than this
    answer_threads: int = 0  # threads answering questions at once (0: one per core)
    # An update whose handling crashes, times out or dies with the process this many times is
    # set aside as a dead letter (admins are told; `storybot inbox` lists it).
    poison_attempts: int = 3
    update_timeout_seconds: float = 600.0  # one attempt may take this long (0: no limit)
    keep_days: float = 30.0  # answers, feedback and dead letters are kept this long
    prune_every_minutes: float = 60.0  # how often old rows are pruned while the bot serves
    state_max_mb: float = 0.0  # the state file grows no larger (0: no limit); writes then wait
    # Replies are in the chat's /language choice, else the question's language, else the user's
    # Telegram language, else this one (bot/i18n.py).
    default_language: str = "en"


@dataclass(frozen=True, slots=True)
class GapsSection:
    # Two questions ask the same thing (one gap) when their cosine reaches this; picked on
    # evaluation/gaps (docs/quality.md).
    threshold: float = 0.6
    keep_days: float = 90.0  # gap questions are kept this long
    top: int = 10  # gaps listed by /gaps and the digest
    digest: str = ""  # weekly digest to admins, e.g. "mon 09:00" (UTC); "" = none


@dataclass(frozen=True, slots=True)
class TelegramSection:
    base_url: str = ""
    admins: list[int] = field(default_factory=list)
    token_file: str = ""
    timeout_seconds: float = 10.0  # connect/read/write timeout of one Bot API request
    messages_per_second: float = 30.0  # Telegram's limit for a bot overall; 0 = no limit
    group_messages_per_minute: float = 20.0  # Telegram's limit per group; 0 = no limit
    send_attempts: int = 6  # a reply that fails on the network is tried this many times


@dataclass(frozen=True, slots=True)
class WebSection:
    enabled: bool = True  # health and metrics also run in polling mode; false turns them off
    host: str = "127.0.0.1"
    port: int = 8080
    webhook_path: str = "/telegram/webhook"
    webhook_url: str = ""  # public https URL Telegram posts to (webhook mode), path included


@dataclass(frozen=True, slots=True)
class Config:
    corpus: CorpusSection = field(default_factory=CorpusSection)
    fetch: FetchSection = field(default_factory=FetchSection)
    index: IndexSection = field(default_factory=IndexSection)
    build: BuildSettings = field(default_factory=BuildSettings)  # INDEX_BUILD_KEYS of [index]
    retrieval: RankingSettings = field(default_factory=RankingSettings)  # [retrieval]
    chat: ChatSection = field(default_factory=ChatSection)
    gaps: GapsSection = field(default_factory=GapsSection)
    telegram: TelegramSection = field(default_factory=TelegramSection)
    web: WebSection = field(default_factory=WebSection)
    token: Secret = field(default_factory=lambda: Secret(""))
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))

    @property
    def embedding_id(self) -> str:
        """The model, backend and precision an index must have been built with."""
        return embedding_id(self.index.model, self.index.precision, self.index.backend)

    def build_settings(self) -> BuildSettings:
        """The [index] build keys, with the document size limit of [corpus] and the duplicate
        threshold of [retrieval]."""
        return dataclasses.replace(
            self.build,
            max_document_bytes=int(self.corpus.max_document_mb * _MB),
            duplicate_overlap=self.retrieval.duplicate_overlap,
        )

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(
            timeout=self.corpus.fetch_timeout_seconds,
            max_bytes=int(self.corpus.fetch_max_mb * _MB),
            max_redirects=self.corpus.fetch_max_redirects,
            allow_private_networks=self.fetch.allow_private_networks,
        )

    @property
    def upload_max_bytes(self) -> int:
        return int(self.corpus.upload_max_mb * _MB)

    def ranking_settings(self) -> RankingSettings:
        return self.retrieval


@dataclass(frozen=True, slots=True)
class _Part:
    """Keys of one config section that set the fields of one dataclass, a field of Config."""

    attribute: str
    cls: type
    keys: tuple[str, ...] | None = None  # None: all its fields

    def names(self) -> tuple[str, ...]:
        if self.keys is not None:
            return self.keys
        return tuple(f.name for f in dataclasses.fields(self.cls))


_SECTIONS: dict[str, tuple[_Part, ...]] = {
    "corpus": (_Part("corpus", CorpusSection),),
    "fetch": (_Part("fetch", FetchSection),),
    "index": (_Part("index", IndexSection), _Part("build", BuildSettings, INDEX_BUILD_KEYS)),
    "retrieval": (_Part("retrieval", RankingSettings, RETRIEVAL_KEYS),),
    "chat": (_Part("chat", ChatSection),),
    "gaps": (_Part("gaps", GapsSection),),
    "telegram": (_Part("telegram", TelegramSection),),
    "web": (_Part("web", WebSection),),
}


def defaults() -> dict[str, Any]:
    """'section.key' -> its default, for every key config.toml may set."""
    found: dict[str, Any] = {}
    for section, parts in _SECTIONS.items():
        for part in parts:
            default = part.cls()
            found |= {f"{section}.{key}": getattr(default, key) for key in part.names()}
    return found


def _convert(name: str, value: Any, kind: Any, base: Path) -> Any:
    """Check one value against the field's type; relative paths start at the config's folder."""
    origin = typing.get_origin(kind)
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"Config '{name}' must be a path (a non-empty string), not {value!r}."
            )
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"Config '{name}' must be true or false, not {value!r}.")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"Config '{name}' must be a whole number, not {value!r}.")
        if value < 0:
            raise ConfigError(f"Config '{name}' must not be negative, not {value!r}.")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"Config '{name}' must be a number, not {value!r}.")
        if value < 0:
            raise ConfigError(f"Config '{name}' must not be negative, not {value!r}.")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"Config '{name}' must be a string, not {value!r}.")
        return value
    if origin is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"Config '{name}' must be a list, not {value!r}.")
        return [_convert(f"{name}[{i}]", v, item, base) for i, v in enumerate(value)]
    raise TypeError(f"unsupported config type {kind!r}")  # pragma: no cover


def _section(name: str, parts: tuple[_Part, ...], raw: Any, base: Path) -> dict[str, Any]:
    """One section's table -> the Config fields it fills."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"Config '{name}' must be a table ([{name}]), not {raw!r}.")
    known = {key for part in parts for key in part.names()}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"Config '{name}.{key}' is not a known setting "
                f"(known: {', '.join(sorted(known))})."
            )
    filled: dict[str, Any] = {}
    for part in parts:
        hints = typing.get_type_hints(part.cls)
        keys = set(part.names())
        filled[part.attribute] = part.cls(
            **{
                key: _convert(f"{name}.{key}", value, hints[key], base)
                for key, value in raw.items()
                if key in keys
            }
        )
    return filled


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    telegram = data.setdefault("telegram", {})
    if not isinstance(telegram, dict):
        return
    if environ.get("STORYBOT_TELEGRAM_BASE_URL"):
        telegram["base_url"] = environ["STORYBOT_TELEGRAM_BASE_URL"]
    if "STORYBOT_ADMINS" in environ:
        raw = environ["STORYBOT_ADMINS"]
        try:
            telegram["admins"] = [int(x) for x in raw.replace(" ", "").split(",") if x]
        except ValueError:
            raise ConfigError(
                f"Environment variable 'STORYBOT_ADMINS' must be comma-separated user ids, "
                f"not {raw!r}."
            ) from None


def _read_token(config: Config, environ: Mapping[str, str], base: Path) -> Secret:
    """The bot token: TELEGRAM_BOT_TOKEN, else the file ``telegram.token_file`` (relative to
    ``base``, the config file's folder)."""
    if environ.get("TELEGRAM_BOT_TOKEN"):
        return Secret(environ["TELEGRAM_BOT_TOKEN"].strip())
    if config.telegram.token_file:
        path = base / Path(config.telegram.token_file).expanduser()
        try:
            return Secret(path.read_text().strip())
        except OSError as exc:
            raise ConfigError(
                f"Config 'telegram.token_file' names {str(path)!r}, which cannot be read: "
                f"{exc.strerror}."
            ) from None
    return Secret("")


def load_config(
    source: Path | str | Mapping[str, Any] = "config.toml",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and check the configuration from a TOML file or a mapping (as tests pass).

    Relative paths in a file are taken from the file's folder; in a mapping, from the current one.
    """
    environ = os.environ if environ is None else environ
    if isinstance(source, Mapping):
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in source.items()}
        base = Path.cwd()
    else:
        path = Path(source)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"Config file {str(path)!r} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {exc}.") from None
        base = path.resolve().parent
    _env_overrides(data, environ)
    for key in data:
        if key not in _SECTIONS:
            raise ConfigError(
                f"Config section '{key}' is not known (known: {', '.join(sorted(_SECTIONS))})."
            )
    fields: dict[str, Any] = {}
    for name, parts in _SECTIONS.items():
        fields |= _section(name, parts, data.get(name, {}), base)
    config = Config(**fields)
    _validate(config)
    return dataclasses.replace(
        config,
        token=_read_token(config, environ, base),
        admin_token=Secret(environ.get("STORYBOT_ADMIN_TOKEN", "").strip()),
        webhook_secret=Secret(environ.get("STORYBOT_WEBHOOK_SECRET", "").strip()),
    )


def _validate(config: Config) -> None:
    """Checks that span keys or need more than a type."""
    index = config.index
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
    build = config.build
    if problem := model_problem(
        index.model, index.backend, build.query_prefix, build.passage_prefix
    ):
        raise ConfigError(
            f"Config 'index.model' {index.model!r} with index.backend = {index.backend!r}: "
            f"{problem}."
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
    for key, count in (  # counts where 0 would do nothing, or break, rather than switch off
        ("index.batch_size", index.batch_size),
        ("retrieval.depth", config.retrieval.depth),
        ("retrieval.answer_sentences", config.retrieval.answer_sentences),
        ("retrieval.answer_passages", config.retrieval.answer_passages),
        ("chat.max_question_chars", config.chat.max_question_chars),
    ):
        if count < 1:
            raise ConfigError(f"Config '{key}' must be at least 1, not {count}.")
    if not 0 <= config.retrieval.hedge <= config.retrieval.gate <= 1:
        raise ConfigError(
            f"Config 'retrieval.hedge' ({config.retrieval.hedge}) and 'retrieval.gate' "
            f"({config.retrieval.gate}) must satisfy 0 <= hedge <= gate <= 1."
        )
    if config.retrieval.top_k < 1:
        raise ConfigError(
            f"Config 'retrieval.top_k' must be at least 1, not {config.retrieval.top_k}."
        )
    chat = config.chat
    if chat.poison_attempts < 1:
        raise ConfigError(
            f"Config 'chat.poison_attempts' must be at least 1, not {chat.poison_attempts}."
        )
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
    _validate_gaps(config.gaps)
    telegram = config.telegram
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
    if telegram.send_attempts < 1:
        raise ConfigError(
            f"Config 'telegram.send_attempts' must be at least 1, not {telegram.send_attempts}."
        )
    corpus = config.corpus
    for key in ("max_document_mb", "fetch_timeout_seconds", "fetch_max_mb", "upload_max_mb"):
        if getattr(corpus, key) <= 0:
            raise ConfigError(
                f"Config 'corpus.{key}' must be more than 0, not {getattr(corpus, key)}."
            )
    if not 0 < config.retrieval.duplicate_overlap <= 1:
        raise ConfigError(
            f"Config 'retrieval.duplicate_overlap' must be above 0 and at most 1, not "
            f"{config.retrieval.duplicate_overlap}."
        )
    url = config.telegram.base_url
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"Config 'telegram.base_url' must be an http(s) URL, not {url!r}.")
    web = config.web
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


def _validate_gaps(gaps: GapsSection) -> None:
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
