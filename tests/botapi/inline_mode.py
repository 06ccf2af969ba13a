"""Inline mode for the Bot API test server: users type ``@bot query`` (``send_inline_query``),
the bot answers with ``answerInlineQuery``, and a user picks a result (``choose_inline_result``).

Follows https://core.telegram.org/bots/api#inline-mode and what the Bot API server (TDLib)
refuses: more than 50 results, an empty, over-long (over 64 bytes) or repeated result id, an
article without a title or message, message text over 4,096 characters after parsing or with
bad HTML, a ``next_offset`` over 64 bytes, an unknown, expired or already answered query id.
``cache_time`` is clamped to 0..86,400 seconds, as the server does (it refuses no value), and
an answer is reused for that long: the same query text (and offset) from the same user, or from
anyone when the answer is not ``is_personal``, gets it again without reaching the bot.

Telegram does not document how long a bot has to answer; queries answered later than about
10 seconds fail with "query is too old" (``inline_query_timeout`` here).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .formatting import EntityParseError, format_text

if TYPE_CHECKING:
    from .server import SimChat, SimUser, _Params

__all__ = ["InlineAnswer", "InlineModeMixin"]

MAX_INLINE_RESULTS = 50
MAX_RESULT_ID_BYTES = 64
MAX_NEXT_OFFSET_BYTES = 64
MAX_CACHE_TIME = 24 * 60 * 60
DEFAULT_CACHE_TIME = 300
MAX_QUERY_CHARS = 256  # clients send at most this much of what follows @bot
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CHAT_TYPES = frozenset({"sender", "private", "group", "supergroup", "channel"})


@dataclass
class InlineAnswer:
    """The bot's answer to an inline query, as the server kept it."""

    query_id: str
    results: list[dict[str, Any]]
    cache_time: int
    is_personal: bool
    next_offset: str
    #: Each article's message as Telegram would send it: (text, entities) by result id.
    messages: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    answered_at: float = field(default_factory=time.monotonic)
    #: True when the answer came from the cache, without asking the bot.
    cached: bool = False


class InlineModeMixin:
    """Inline queries and chosen results; mixed into ``BotApiServer``."""

    # Provided by BotApiServer.
    bot_id: int
    supports_inline_queries: bool
    strict_html: bool

    def _init_inline(self, *, inline_feedback: bool, inline_query_timeout: float) -> None:
        #: BotFather's /setinlinefeedback: the bot gets chosen_inline_result updates.
        self.inline_feedback = inline_feedback
        #: Seconds after which an unanswered inline query can no longer be answered.
        self.inline_query_timeout = inline_query_timeout
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self.inline_answers: dict[str, InlineAnswer] = {}
        self._inline_cache: dict[tuple[Any, ...], InlineAnswer] = {}

    # ------------------------------------------------------------------ what users do

    def send_inline_query(
        self,
        user: SimUser,
        query: str,
        *,
        chat_type: str = "sender",
        offset: str = "",
    ) -> dict[str, Any]:
        """``user`` types ``@bot query`` in a chat of ``chat_type`` ("sender": their private
        chat with the bot). Returns the InlineQuery. Its answer (:meth:`wait_for_inline_answer`)
        comes from the bot, or at once from the cache of an earlier answer (no update then).
        """
        if not self.supports_inline_queries:
            raise ValueError("the bot has no inline mode (BotFather's /setinline)")
        if chat_type not in CHAT_TYPES:
            raise ValueError(f"not a chat type: {chat_type!r}")
        query = query[:MAX_QUERY_CHARS]
        query_id = str(secrets.randbits(63))
        data = {
            "id": query_id,
            "from": user.to_dict(),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self._inline_queries[query_id] = {"query": data, "time": time.monotonic(), "user": user}
        cached = self._cached_answer(user.id, query, offset, chat_type)
        if cached is not None:
            self.inline_answers[query_id] = InlineAnswer(
                query_id,
                cached.results,
                cached.cache_time,
                cached.is_personal,
                cached.next_offset,
                cached.messages,
                cached=True,
            )
            self._notify()
        else:
            self._enqueue("inline_query", data)
        return dict(data)

    def choose_inline_result(
        self, query: dict[str, Any] | str, result_id: str, chat: SimChat | None = None
    ) -> dict[str, Any] | None:
        """The user who sent ``query`` picks the result ``result_id``: its message is sent (in
        ``chat`` when given: stored there as the user's message "via @bot"), and the bot gets a
        chosen_inline_result when inline feedback is on. Returns the message, if stored."""
        qid = query["id"] if isinstance(query, dict) else query
        answer = self.inline_answers.get(qid)
        if answer is None or result_id not in answer.messages:
            raise ValueError(f"inline query {qid} has no result {result_id!r}")
        asked = self._inline_queries[qid]
        user: SimUser = asked["user"]
        message = None
        if chat is not None:
            text, entities = answer.messages[result_id]
            body = {"text": text, "entities": entities, "via_bot": self.bot_user}
            message = self._user_message(chat, user, body, None, None)
        if self.inline_feedback:
            self._enqueue(
                "chosen_inline_result",
                {"result_id": result_id, "from": user.to_dict(), "query": asked["query"]["query"]},
            )
        return message

    async def wait_for_inline_answer(
        self,
        query: dict[str, Any] | str,
        timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is part of the helper's contract
    ) -> InlineAnswer:
        """Wait for the answer to an inline query from :meth:`send_inline_query`."""
        qid = query["id"] if isinstance(query, dict) else query
        answer: InlineAnswer = await self.wait_for(
            lambda: self.inline_answers.get(qid), timeout, f"an answer to inline query {qid}"
        )
        return answer

    # ------------------------------------------------------------------ answerInlineQuery

    async def _answer_inline_query(self, p: _Params) -> bool:
        """answerInlineQuery: the results are checked first, then the query id."""
        qid = p.str("inline_query_id", "") or ""
        results = p.json("results", "can't parse inline query results JSON object")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("too many inline query results specified")
        next_offset = p.str("next_offset", "") or ""
        if len(next_offset.encode()) > MAX_NEXT_OFFSET_BYTES:
            raise _bad("NEXT_OFFSET_INVALID")
        messages = {}
        for result in results:
            rid, message = self._inline_result(result)
            if rid in messages:
                raise _bad("RESULT_ID_DUPLICATE")
            messages[rid] = message
        asked = self._inline_queries.get(qid)
        if (
            asked is None
            or qid in self.inline_answers
            or time.monotonic() - asked["time"] > self.inline_query_timeout
        ):
            raise _bad(QUERY_TOO_OLD)
        cache_time = min(max(p.int("cache_time", DEFAULT_CACHE_TIME) or 0, 0), MAX_CACHE_TIME)
        answer = InlineAnswer(
            qid, results, cache_time, p.bool("is_personal"), next_offset, messages
        )
        self.inline_answers[qid] = answer
        if cache_time > 0:
            data = asked["query"]
            key = _cache_key(data["query"], data["offset"], data["chat_type"])
            self._inline_cache[(*key, data["from"]["id"])] = answer
            if not answer.is_personal:
                self._inline_cache[(*key, None)] = answer
        self._notify()
        return True

    def _inline_result(self, result: Any) -> tuple[str, tuple[str, list[dict[str, Any]]]]:
        """A result's id and the message it sends; ApiError for what Telegram refuses."""
        if not isinstance(result, dict):
            raise _bad("can't parse InlineQueryResult: expected an Object")
        rid = result.get("id")
        if not isinstance(rid, str) or not rid:
            raise _bad("RESULT_ID_EMPTY")
        if len(rid.encode()) > MAX_RESULT_ID_BYTES:
            raise _bad("RESULT_ID_INVALID")
        kind = str(result.get("type", "")).lower()
        if kind != "article":
            raise _bad(
                f'can\'t parse InlineQueryResult: type "{kind}" is unsupported for the inline '
                "query result"
            )
        if not str(result.get("title") or "").strip():
            raise _bad("ARTICLE_TITLE_EMPTY")
        content = result.get("input_message_content")
        if not isinstance(content, dict) or "message_text" not in content:
            raise _bad("can't parse InlineQueryResult: input_message_content is required")
        text = str(content.get("message_text") or "")
        try:
            plain, entities = format_text(
                text,
                content.get("parse_mode"),
                content.get("entities"),
                strict_html=self.strict_html,
            )
        except EntityParseError as err:
            raise _bad(f"can't parse entities: {err}") from None
        except ValueError as err:
            raise _bad(str(err)) from None
        if not plain.strip():
            raise _bad("MESSAGE_EMPTY")
        if len(plain) > 4096:
            raise _bad("MESSAGE_TOO_LONG")
        return rid, (plain, entities)

    def _cached_answer(
        self, user_id: int, query: str, offset: str, chat_type: str
    ) -> InlineAnswer | None:
        key = _cache_key(query, offset, chat_type)
        for owner in (user_id, None):
            answer = self._inline_cache.get((*key, owner))
            if answer is not None and time.monotonic() - answer.answered_at < answer.cache_time:
                return answer
        return None

    # Provided by BotApiServer (declared for the reader; the server defines them).
    if TYPE_CHECKING:

        def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None: ...
        def _notify(self) -> None: ...
        def _user_message(self, *args: Any) -> dict[str, Any]: ...
        async def wait_for(self, *args: Any) -> Any: ...
        @property
        def bot_user(self) -> dict[str, Any]: ...


def _cache_key(query: str, offset: str, chat_type: str) -> tuple[str, str, str]:
    """What makes two queries the same for the cache (TDLib: chat type, offset, trimmed text)."""
    return (query.strip(), offset, "private" if chat_type == "sender" else chat_type)


def _bad(description: str) -> Exception:
    from .server import ApiError

    return ApiError(400, f"Bad Request: {description}")
