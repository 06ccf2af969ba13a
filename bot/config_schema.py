"""What config.toml may hold: its sections, their keys and defaults, and the Config they make.

The [index] build keys and the [retrieval] keys are fields of the engine's settings dataclasses
(index/settings.py), which own their defaults; the other sections are the bot's own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.models import BUNDLED_MODEL, embedding_id
from index.settings import MAX_DOCUMENT_BYTES, BuildSettings, FetchSettings, RankingSettings

__all__ = [
    "INDEX_BUILD_KEYS",
    "RETRIEVAL_KEYS",
    "SECTIONS",
    "ChatSection",
    "Config",
    "ConfigError",
    "CorpusSection",
    "FetchSection",
    "GapsSection",
    "IndexSection",
    "InlineSection",
    "Secret",
    "TelegramSection",
    "WebSection",
    "defaults",
]

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
    "decline",
    "type_weight",
    "definition_weight",
    "answer_sentences",
    "context_margin",
    "answer_passages",
    "answer_rank_penalty",
    "reader_max_passages",
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
    # The split: questions in another language than English are answered with this model's
    # vectors of the same passages (same backend and precision; "": every question by ``model``)
    other_languages_model: str = ""


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
    # Groups of questions join (one gap) while their mean cosine reaches this; fitted on
    # evaluation/gaps (docs/quality.md).
    threshold: float = 0.48
    keep_days: float = 90.0  # gap questions are kept this long
    top: int = 10  # gaps listed by /gaps and the digest
    digest: str = ""  # weekly digest to admins, e.g. "mon 09:00" (UTC); "" = none


@dataclass(frozen=True, slots=True)
class InlineSection:
    # Telegram does not document how long a bot may take to answer an inline query; answers
    # later than about 10 s fail ("query is too old"). A slower engine answers "try again".
    answer_seconds: float = 3.0
    cache_seconds: int = 300  # Telegram may show an answer again for this long (0 to 86400)
    min_chars: int = 3  # shorter queries get a hint to type a question
    results: int = 3  # results per answer (1 to 50): the whole answer, then one per source


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
class StateSection:
    # "" keeps the state in the SQLite file chat.state_path; "postgresql://user:pw@host/db" in
    # PostgreSQL (shared by replicas). STORYBOT_STATE_URL overrides it. Never shown: the repr
    # leaves it out, and its password is masked in every log line.
    url: str = field(default="", repr=False)
    pool_size: int = 8  # PostgreSQL connections this process keeps open at most


@dataclass(frozen=True, slots=True)
class WebSection:
    enabled: bool = True  # health and metrics also run in polling mode; false turns them off
    host: str = "127.0.0.1"
    port: int = 8080
    webhook_path: str = "/telegram/webhook"
    webhook_url: str = ""  # public https URL Telegram posts to (webhook mode), path included
    admin_session_minutes: float = 60.0  # an admin page login lasts this long
    # Behind a reverse proxy that ends TLS: its X-Forwarded-Proto says whether the admin page
    # was reached over https (and so whether its cookies are marked Secure).
    trust_forwarded_proto: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    corpus: CorpusSection = field(default_factory=CorpusSection)
    fetch: FetchSection = field(default_factory=FetchSection)
    index: IndexSection = field(default_factory=IndexSection)
    build: BuildSettings = field(default_factory=BuildSettings)  # INDEX_BUILD_KEYS of [index]
    retrieval: RankingSettings = field(default_factory=RankingSettings)  # [retrieval]
    chat: ChatSection = field(default_factory=ChatSection)
    gaps: GapsSection = field(default_factory=GapsSection)
    inline: InlineSection = field(default_factory=InlineSection)
    telegram: TelegramSection = field(default_factory=TelegramSection)
    state: StateSection = field(default_factory=StateSection)
    web: WebSection = field(default_factory=WebSection)
    token: Secret = field(default_factory=lambda: Secret(""))
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    gaps_key: Secret = field(default_factory=lambda: Secret(""))  # the gap report's user hashes

    @property
    def embedding_id(self) -> str:
        """The model, backend and precision an index must have been built with."""
        return embedding_id(self.index.model, self.index.precision, self.index.backend)

    @property
    def other_embedding_id(self) -> str:
        """The embedding id of the other-languages index ("" when the split is off)."""
        model = self.index.other_languages_model
        return embedding_id(model, self.index.precision, self.index.backend) if model else ""

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
class Part:
    """Keys of one config section that set the fields of one dataclass, a field of Config."""

    attribute: str
    cls: type
    keys: tuple[str, ...] | None = None  # None: all its fields

    def names(self) -> tuple[str, ...]:
        if self.keys is not None:
            return self.keys
        return tuple(f.name for f in dataclasses.fields(self.cls))


SECTIONS: dict[str, tuple[Part, ...]] = {
    "corpus": (Part("corpus", CorpusSection),),
    "fetch": (Part("fetch", FetchSection),),
    "index": (Part("index", IndexSection), Part("build", BuildSettings, INDEX_BUILD_KEYS)),
    "retrieval": (Part("retrieval", RankingSettings, RETRIEVAL_KEYS),),
    "chat": (Part("chat", ChatSection),),
    "gaps": (Part("gaps", GapsSection),),
    "inline": (Part("inline", InlineSection),),
    "telegram": (Part("telegram", TelegramSection),),
    "state": (Part("state", StateSection),),
    "web": (Part("web", WebSection),),
}


def defaults() -> dict[str, Any]:
    """'section.key' -> its default, for every key config.toml may set."""
    found: dict[str, Any] = {}
    for section, parts in SECTIONS.items():
        for part in parts:
            default = part.cls()
            found |= {f"{section}.{key}": getattr(default, key) for key in part.names()}
    return found
