"""A Bot API test server: the real ``telegram.ext.Application`` talks to it over HTTP.

Start it with ``async with BotApiServer(token=..., bot_username="storybot") as server:`` and
build the bot with
``ApplicationBuilder().base_url(server.base_url).base_file_url(server.base_file_url)``.
Tests then play the users (``create_user``, ``create_private_chat``, ``create_group``,
``send_text``, ``press_button`` ...), wait for what the bot does (``wait_for_messages``,
``wait_for_calls``) and look at every call it made (``calls``).

The server follows https://core.telegram.org/bots/api and the behaviour of the real server
(which runs on TDLib): the same JSON shapes, the same error codes and descriptions, long polling
with offset confirmation, webhooks with the secret header, privacy mode in groups, forum topics.
Faults (429, 5xx, timeouts, dropped connections) can be injected per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .formatting import EntityParseError, format_text, utf16_len
from .inline_mode import InlineModeMixin
from .reactions import ReactionsMixin

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApiServer",
    "Fault",
    "FaultKind",
    "SimChat",
    "SimTopic",
    "SimUser",
]

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files to bots
MAX_CAPTION_LENGTH = 1024

# Update types a bot gets when allowed_updates is empty (the default).
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
ALL_UPDATE_TYPES = DEFAULT_UPDATE_TYPES | {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

# Parameters whose form-encoded value is JSON (PTB json.dumps every non-string value).
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "commands",
        "scope",
        "allowed_updates",
        "menu_button",
        "media",
        "results",
        "permissions",
        "reaction",
        "message_ids",
        "suggested_post_parameters",
    }
)
_INT_PARAMS = frozenset(
    {
        "message_id",
        "message_thread_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "max_connections",
        "user_id",
        "from_chat_id",
        "direct_messages_topic_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "show_alert",
        "drop_pending_updates",
        "allow_paid_broadcast",
        "for_channels",
        "has_spoiler",
        "show_caption_above_media",
    }
)

# Real Bot API methods this server does not simulate: they answer 501 instead of a 404 that
# would look like a typo in the method name.
_UNSIMULATED_METHODS = frozenset(
    {
        "forwardMessage",
        "forwardMessages",
        "copyMessage",
        "copyMessages",
        "sendPhoto",
        "sendAudio",
        "sendDocument",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendPaidMedia",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendChecklist",
        "sendDice",
        "sendSticker",
        "sendInvoice",
        "sendGame",
        "setMessageReaction",
        "getUserProfilePhotos",
        "banChatMember",
        "unbanChatMember",
        "restrictChatMember",
        "promoteChatMember",
        "setChatPermissions",
        "exportChatInviteLink",
        "createChatInviteLink",
        "setChatPhoto",
        "deleteChatPhoto",
        "setChatTitle",
        "setChatDescription",
        "pinChatMessage",
        "unpinChatMessage",
        "unpinAllChatMessages",
        "createForumTopic",
        "editForumTopic",
        "closeForumTopic",
        "reopenForumTopic",
        "deleteForumTopic",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageLiveLocation",
        "stopMessageLiveLocation",
        "stopPoll",
        "getStickerSet",
        "uploadStickerFile",
    }
)

_TOKEN_RE = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{30,50}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

_BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, error_code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            data["parameters"] = self.parameters
        return data


def _clone(value: Any) -> Any:
    """A deep copy of Bot API data (dicts, lists and immutable scalars): several times faster
    than ``copy.deepcopy``, which the server calls for every message it stores or returns."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _forbidden(description: str) -> ApiError:
    return ApiError(403, f"Forbidden: {description}")


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


# --------------------------------------------------------------------------------------------
# Simulated users and chats
# --------------------------------------------------------------------------------------------


@dataclass
class SimUser:
    """A Telegram user the tests act as."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    is_premium: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        data: dict[str, Any] = {
            "id": self.id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
        }
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        if self.is_premium:
            data["is_premium"] = True
        return data

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class SimTopic:
    """A forum topic; its ``thread_id`` is the id of its ``forum_topic_created`` message."""

    thread_id: int
    name: str
    icon_color: int
    creator_id: int


@dataclass
class SimChat:
    """A chat: ``private`` (with ``user``), ``group`` or ``supergroup`` (maybe a forum)."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    user: SimUser | None = None
    members: dict[int, SimUser] = field(default_factory=dict)
    owner_id: int | None = None
    #: The bot's membership: "member", "administrator", "left" or "kicked".
    bot_status: str = "member"
    topics: dict[int, SimTopic] = field(default_factory=dict)
    #: For a private chat: the user blocked the bot.
    blocked: bool = False
    #: A basic group that was upgraded: the supergroup's id.
    migrated_to: int | None = None
    next_message_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object, as it appears inside messages."""
        data: dict[str, Any] = {"id": self.id}
        if self.type == "private":
            data["first_name"] = self.first_name
            if self.last_name:
                data["last_name"] = self.last_name
            if self.username:
                data["username"] = self.username
        else:
            data["title"] = self.title
            if self.username:
                data["username"] = self.username
        data["type"] = self.type
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class StoredMessage:
    """A message as the server keeps it: the current Bot API object plus bookkeeping."""

    data: dict[str, Any]
    from_bot: bool
    versions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    delivered: bool = False


@dataclass
class ApiCall:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    time: float
    monotonic: float
    http_method: str
    status: int | None = None
    response: Any = None
    fault: str | None = None
    #: "http" for requests, "webhook_reply" for a method sent back in a webhook response.
    source: str = "http"
    #: The request took effect but the bot had given up waiting (its timeout, under load)
    #: before the answer reached it: as with a lost answer, the bot cannot know it succeeded.
    unheard: bool = False

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and self.response.get("ok") is True

    @property
    def result(self) -> Any:
        return self.response.get("result") if isinstance(self.response, dict) else None

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict) and not self.response.get("ok", True):
            return self.response.get("description")
        return None


class FaultKind:
    """The kinds of faults :meth:`BotApiServer.inject_fault` can inject."""

    #: 429 Too Many Requests with ``parameters.retry_after``; the request has no effect.
    RATE_LIMIT = "429"
    #: 500 Internal Server Error (JSON body); no effect.
    SERVER_ERROR = "500"
    #: 502 Bad Gateway with nginx's HTML page, as Telegram's front end sends it; no effect.
    BAD_GATEWAY = "502"
    #: Any status and description (``status=``, ``description=``); no effect.
    ERROR = "error"
    #: The answer comes after ``delay`` seconds (longer than the client's timeout). With
    #: ``process=True`` the request takes effect at once (message stored) and only the answer is
    #: late; with ``process=False`` the connection is closed after the delay, without effect.
    TIMEOUT = "timeout"
    #: The connection is closed without an answer; no effect.
    DROP = "drop"
    #: The request takes effect (message stored), then the connection is closed unanswered.
    ACCEPT_THEN_DROP = "accept_then_drop"
    #: 302 back to the same URL, a redirect loop (the client gives up after its limit).
    REDIRECT_LOOP = "redirect_loop"

    ALL = frozenset(
        {
            RATE_LIMIT,
            SERVER_ERROR,
            BAD_GATEWAY,
            ERROR,
            TIMEOUT,
            DROP,
            ACCEPT_THEN_DROP,
            REDIRECT_LOOP,
        }
    )


@dataclass
class Fault:
    """A fault rule. ``methods=None`` matches every method; ``times=None`` never runs out."""

    kind: str
    methods: frozenset[str] | None = None
    times: int | None = 1
    retry_after: int = 1
    delay: float = 30.0
    process: bool = False
    status: int = 500
    description: str = "Internal Server Error"
    match: Callable[[str, dict[str, Any]], bool] | None = None
    applied: int = 0

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.match is None or bool(self.match(method, params))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class _Poll:
    __slots__ = ("terminated",)

    def __init__(self) -> None:
        self.terminated = False


class _Drop(Exception):
    """Close the connection without an answer."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def _normalize_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Decode form values the way the Bot API reads them (JSON objects, integers, booleans)."""
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in _JSON_PARAMS:
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            elif key in _INT_PARAMS or key == "chat_id":
                with contextlib.suppress(ValueError):
                    value = int(value)
            elif key in _BOOL_PARAMS:
                value = value.lower() == "true" or value == "1"
        params[key] = value
    return params


class _Params:
    def __init__(self, params: dict[str, Any]) -> None:
        self.raw = params

    def __contains__(self, name: str) -> bool:
        return name in self.raw and self.raw[name] is not None

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def int(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise _bad(f"{name} is empty")
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            if required:
                raise _bad(f"invalid {name} specified") from None
            return default

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        return str(value).lower() == "true" or str(value) == "1"

    def json(self, name: str, error: str) -> Any:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(error) from None
        return value


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class BotApiServer(InlineModeMixin, ReactionsMixin):
    """An in-process Telegram Bot API for end-to-end tests of a python-telegram-bot bot
    (inline mode: ``inline_mode.py``; reactions: ``reactions.py``)."""

    def __init__(
        self,
        token: str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
        bot_username: str = "storybot",
        *,
        bot_name: str = "Story Bot",
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = False,
        supports_inline_queries: bool = False,
        inline_feedback: bool = False,
        inline_query_timeout: float = 10.0,
        strict_html: bool = True,
        webhook_require_https: bool = False,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        match = _TOKEN_RE.match(token)
        if not match:
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.bot_id = int(match.group(1))
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.can_join_groups = can_join_groups
        self.can_read_all_group_messages = can_read_all_group_messages
        self.supports_inline_queries = supports_inline_queries
        #: Refuse a bare ``&`` and unknown ``&name;`` in HTML (real Telegram keeps them as text).
        self.strict_html = strict_html
        self.webhook_require_https = webhook_require_https
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.host = host
        self._port = port

        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._closing = False
        self._changed: asyncio.Event | None = None

        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, SimChat] = {}
        self._messages: dict[tuple[int, int], StoredMessage] = {}
        self._chat_order: dict[int, list[int]] = {}
        self._global_message_id = 0
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(4_000_000_001)
        self._supergroup_ids = itertools.count(1_000_000_001)
        self._topic_colors = itertools.cycle(
            [7322096, 16766590, 13338331, 9367192, 16749490, 16478047]
        )

        self._pending: list[dict[str, Any]] = []
        self._update_ids = itertools.count(700_000_001)
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._current_poll: _Poll | None = None
        self._delivered_updates: list[dict[str, Any]] = []
        self._confirmed_update_id = 0

        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.webhook_deliveries: list[dict[str, Any]] = []
        self.webhook_failures: list[str] = []

        self._calls: list[ApiCall] = []
        self._commands: dict[tuple[str, int | None, int | None, str], list[dict[str, str]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.chat_actions: list[dict[str, Any]] = []
        self._files: dict[str, dict[str, Any]] = {}

        self._faults: list[Fault] = []
        self.fault_counts: Counter[str] = Counter()
        self._init_inline(
            inline_feedback=inline_feedback, inline_query_timeout=inline_query_timeout
        )
        self._init_reactions()

        self._methods: dict[str, Callable[[_Params], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._true,
            "setMyShortDescription": self._true,
            "setMyName": self._true,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatMemberCount": self._get_chat_member_count,
            "leaveChat": self._leave_chat,
            "getFile": self._get_file,
        }
        self._method_names = {name.lower(): name for name in self._methods}
        self._method_names.update({name.lower(): name for name in _UNSIMULATED_METHODS})

    # ---------------------------------------------------------------- lifecycle and addresses

    async def __aenter__(self) -> BotApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``host`` (an ephemeral port unless one was given)."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        self._closing = False
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        # Method names never contain "/": this is a file, for base_file_url=server.base_url.
        app.router.add_route("*", "/bot{token}/{path:[^/]+/.+}", self._handle_file)
        app.router.add_route("*", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._runner = runner
        self._bound_port = runner.addresses[0][1]

    async def stop(self) -> None:
        """End long polls, stop webhook delivery and close the listening socket."""
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        await self._runner.cleanup()
        self._runner = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the server is not running")
        return self._bound_port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``: PTB appends the
        token, so requests go to ``{base_url}{token}/{method}``."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``: ``{root}/file/bot`` like Telegram's
        ``/file/bot<token>/<file_path>`` (files are also served under :attr:`base_url`)."""
        return f"{self.root_url}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's ``User`` object as it appears in messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    # ---------------------------------------------------------------- notification and waiting

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float | None) -> None:
        event = self._changed
        if event is None:
            await asyncio.sleep(seconds or 0)
            return
        if seconds is not None and seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is part of the helper's contract
        what: str = "condition",
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every change); return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            await self._wait_change(min(remaining, 0.5))

    async def wait_for_messages(
        self,
        chat_id: int | SimChat,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait until the bot has ``count`` (undeleted) messages in the chat; return them all."""
        cid = _chat_id(chat_id)

        def check() -> list[dict[str, Any]] | None:
            messages = self.sent_messages(cid)
            return messages if len(messages) >= count else None

        try:
            return await self.wait_for(check, timeout, f"{count} bot message(s) in chat {cid}")
        except TimeoutError as exc:
            got = [m.get("text") for m in self.sent_messages(cid)]
            errors = [c.error for c in self.calls() if c.error]
            raise TimeoutError(f"{exc}; got {got!r}; API errors so far: {errors!r}") from None

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[ApiCall]:
        """Wait until the bot has called ``method`` ``count`` times; return those calls."""

        def check() -> list[ApiCall] | None:
            calls = self.calls(method)
            return calls if len(calls) >= count else None

        return await self.wait_for(check, timeout, f"{count} call(s) of {method}")

    async def wait_for_callback_answer(
        self,
        query_id: str | Mapping[str, Any],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait for the bot's answerCallbackQuery to a query from :meth:`press_button`."""
        qid = query_id["id"] if isinstance(query_id, Mapping) else query_id
        return await self.wait_for(
            lambda: self.callback_answers.get(qid), timeout, f"an answer to callback query {qid}"
        )

    async def wait_until_consumed(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until every queued update was confirmed by getUpdates or taken by the webhook."""
        await self.wait_for(lambda: not self._pending, timeout, "all updates to be consumed")

    # ---------------------------------------------------------------- inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every request the bot made, oldest first (only those of ``method`` if given)."""
        if method is None:
            return list(self._calls)
        wanted = self._method_names.get(method.lower(), method)
        return [c for c in self._calls if c.method == wanted]

    def sent_messages(
        self, chat_id: int | SimChat, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """The bot's messages in a chat, oldest first, in their current state (after edits)."""
        cid = _chat_id(chat_id)
        result = []
        for mid in self._chat_order.get(cid, []):
            stored = self._messages[(cid, mid)]
            if stored.from_bot and (include_deleted or not stored.deleted):
                result.append(_clone(stored.data))
        return result

    def message(self, chat_id: int | SimChat, message_id: int) -> dict[str, Any] | None:
        """The current state of a message (``None`` when unknown or deleted)."""
        stored = self._messages.get((_chat_id(chat_id), message_id))
        if stored is None or stored.deleted:
            return None
        return _clone(stored.data)

    def message_versions(self, chat_id: int | SimChat, message_id: int) -> list[dict[str, Any]]:
        """Every version of a message, the original first."""
        stored = self._messages.get((_chat_id(chat_id), message_id))
        return _clone(stored.versions) if stored else []

    def is_deleted(self, chat_id: int | SimChat, message_id: int) -> bool:
        stored = self._messages.get((_chat_id(chat_id), message_id))
        return bool(stored and stored.deleted)

    def was_delivered(self, message: Mapping[str, Any]) -> bool:
        """Whether a user's message was passed to the bot (privacy mode may hold it back)."""
        stored = self._messages.get((message["chat"]["id"], message["message_id"]))
        return bool(stored and stored.delivered)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (getUpdates) or delivered (webhook)."""
        return _clone(self._pending)

    @property
    def delivered_updates(self) -> list[dict[str, Any]]:
        """Every update handed to the bot at least once, in order."""
        return _clone(self._delivered_updates)

    def commands(
        self,
        scope: Mapping[str, Any] | None = None,
        language_code: str = "",
    ) -> list[dict[str, str]]:
        """The commands set for a scope (``{"type": "default"}`` when ``None``)."""
        key = self._scope_key(dict(scope or {"type": "default"}), language_code)
        return _clone(self._commands.get(key, []))

    @property
    def webhook_url(self) -> str | None:
        return self._webhook.url if self._webhook else None

    # ---------------------------------------------------------------- fault injection

    def inject_fault(
        self,
        kind: str,
        method: str | Iterable[str] | None = None,
        *,
        times: int | None = 1,
        retry_after: int = 1,
        delay: float = 30.0,
        process: bool = False,
        status: int = 500,
        description: str = "Internal Server Error",
        match: Callable[[str, dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """Make the next ``times`` matching requests fail (``times=None``: all of them).

        ``kind`` is one of :class:`FaultKind`. ``method`` limits the rule to one method or a
        few; ``match(method, params)`` narrows it further. Rules are tried in the order they
        were added; each applied fault is counted in :attr:`fault_counts` (by kind) and in the
        rule's ``applied``.
        """
        if kind not in FaultKind.ALL:
            raise ValueError(f"unknown fault kind {kind!r}")
        methods: frozenset[str] | None
        if method is None:
            methods = None
        else:
            names = [method] if isinstance(method, str) else list(method)
            methods = frozenset(self._method_names.get(n.lower(), n) for n in names)
        fault = Fault(
            kind=kind,
            methods=methods,
            times=times,
            retry_after=retry_after,
            delay=delay,
            process=process,
            status=status,
            description=description,
            match=match,
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault rule (the counts stay)."""
        self._faults.clear()

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if method == "file" and (fault.methods is None or "file" not in fault.methods):
                continue  # downloads fail only by a rule that names them
            if fault.matches(method, params):
                fault.applied += 1
                self.fault_counts[fault.kind] += 1
                return fault
        return None

    # ---------------------------------------------------------------- HTTP

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON encoded request") from None
                if not isinstance(body, dict):
                    raise _bad("JSON object expected")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        raw[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "content": value.file.read(),
                        }
                    else:
                        raw[key] = value
            else:
                await request.read()
        return _normalize_params(raw)

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        # Downloads fail by rules naming the method "file" (``match`` sees "file_path").
        fault = self._take_fault("file", {"file_path": path})
        if fault is not None:
            call = self._record("file", {"file_path": path}, request.method)
            call.fault = fault.kind
            return await self._apply_fault(request, call, fault, {"file_path": path})
        for info in self._files.values():
            # Like the real server, a file is served only after getFile gave out its path.
            if info["file_path"] == path and info.get("served"):
                return web.Response(body=info["content"], content_type="application/octet-stream")
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        requested = request.match_info["method"]
        method = self._method_names.get(requested.lower(), requested)
        try:
            params = await self._read_params(request)
        except ApiError as err:
            call = self._record(method, {}, request.method)
            return self._finish(call, err.payload(), err.error_code)
        call = self._record(method, params, request.method)

        if method not in self._methods and method not in _UNSIMULATED_METHODS:
            return self._finish(
                call, {"ok": False, "error_code": 404, "description": "Not Found"}, 404
            )

        fault = self._take_fault(method, params)
        if fault is not None:
            call.fault = fault.kind
            return await self._apply_fault(request, call, fault, params)

        payload, status = await self._execute(method, params)
        return await self._answer(request, call, self._finish(call, payload, status))

    async def _answer(
        self, request: web.Request, call: ApiCall, response: web.Response
    ) -> web.Response:
        """Send the answer, then note whether the bot had closed the connection (its timeout
        ran out) by then: a few turns of the loop let its close arrive."""
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write_eof()
        for _ in range(3):
            await asyncio.sleep(0)
        if request.transport is None or request.transport.is_closing():
            call.unheard = True
            self._notify()
        return response

    def _record(self, method: str, params: dict[str, Any], http_method: str) -> ApiCall:
        call = ApiCall(
            method=method,
            params=params,
            time=time.time(),
            monotonic=time.monotonic(),
            http_method=http_method,
        )
        self._calls.append(call)
        self._notify()
        return call

    def _finish(self, call: ApiCall, payload: Any, status: int) -> web.Response:
        call.status = status
        call.response = payload
        self._notify()
        if isinstance(payload, str):
            return web.Response(text=payload, status=status, content_type="text/html")
        return web.Response(
            text=json.dumps(payload, ensure_ascii=False),
            status=status,
            content_type="application/json",
        )

    async def _execute(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], int]:
        if method in _UNSIMULATED_METHODS:
            err = ApiError(501, f"Not Implemented: {method} is not simulated by BotApiServer")
            return err.payload(), 501
        try:
            result = await self._methods[method](_Params(params))
        except ApiError as err:
            return err.payload(), err.error_code
        except Exception as exc:  # a bug in the server: say so loudly
            log.exception("BotApiServer failed on %s", method)
            err = ApiError(500, f"Internal Server Error: test server bug: {exc!r}")
            return err.payload(), 500
        if isinstance(result, _Described):
            return {"ok": True, "result": result.result, "description": result.description}, 200
        return {"ok": True, "result": result}, 200

    async def _apply_fault(
        self, request: web.Request, call: ApiCall, fault: Fault, params: dict[str, Any]
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind == FaultKind.RATE_LIMIT:
            err = ApiError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
            response = self._finish(call, err.payload(), 429)
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if kind == FaultKind.SERVER_ERROR:
            return self._finish(call, ApiError(500, "Internal Server Error").payload(), 500)
        if kind == FaultKind.BAD_GATEWAY:
            return self._finish(call, _BAD_GATEWAY_HTML, 502)
        if kind == FaultKind.ERROR:
            return self._finish(
                call, ApiError(fault.status, fault.description).payload(), fault.status
            )
        if kind == FaultKind.TIMEOUT:
            payload: Any = None
            if fault.process:
                payload, status = await self._execute(call.method, params)
                call.response = payload
                call.status = status
            await self._sleep_unless_closing(fault.delay)
            if payload is not None and not self._closing:
                return self._finish(call, payload, call.status or 200)
            return self._drop(request, call, keep_response=fault.process)
        if kind == FaultKind.REDIRECT_LOOP:
            call.status = 302
            self._notify()
            return web.Response(status=302, headers={"Location": str(request.rel_url)})
        if kind == FaultKind.ACCEPT_THEN_DROP:
            payload, status = await self._execute(call.method, params)
            call.response = payload
            call.status = None
            return self._drop(request, call, keep_response=True)
        return self._drop(request, call)

    def _drop(
        self, request: web.Request, call: ApiCall, *, keep_response: bool = False
    ) -> web.Response:
        if not keep_response:
            call.response = None
        call.status = None
        self._notify()
        transport = request.transport
        if transport is not None:
            transport.close()
        return web.Response(status=500)

    async def _sleep_unless_closing(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await self._wait_change(remaining)

    # ---------------------------------------------------------------- users and chats

    def create_user(
        self,
        first_name: str = "Alice",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
        is_premium: bool | None = None,
        user_id: int | None = None,
    ) -> SimUser:
        """A new user (the ids are unique and positive)."""
        uid = user_id if user_id is not None else next(self._user_ids)
        if uid in self._users:
            raise ValueError(f"user {uid} exists")
        user = SimUser(
            id=uid,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
            is_premium=is_premium,
        )
        self._users[uid] = user
        return user

    def user(self, user_id: int) -> SimUser:
        return self._users[user_id]

    def create_private_chat(self, user: SimUser) -> SimChat:
        """The user's chat with the bot (the user has pressed Start; chat id = user id)."""
        if user.id in self._chats:
            return self._chats[user.id]
        chat = SimChat(
            id=user.id,
            type="private",
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            user=user,
        )
        self._chats[chat.id] = chat
        return chat

    def create_group(
        self,
        title: str = "Readers",
        members: Iterable[SimUser] = (),
        *,
        supergroup: bool = False,
        forum: bool = False,
        username: str | None = None,
        bot_is_admin: bool = False,
        owner: SimUser | None = None,
    ) -> SimChat:
        """A group with the bot in it. ``forum=True`` implies a supergroup with topics."""
        supergroup = supergroup or forum
        cid = (
            -1_000_000_000_000 - next(self._supergroup_ids)
            if supergroup
            else -next(self._group_ids)
        )
        members = list(members)
        if owner is None:
            owner = members[0] if members else self.create_user("Owner", username=None)
        chat = SimChat(
            id=cid,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username if supergroup else None,
            is_forum=forum,
            owner_id=owner.id,
            bot_status="administrator" if bot_is_admin else "member",
            # Message 1 of a supergroup is its creation (and the General topic's id is 1).
            next_message_id=1 if supergroup else 0,
        )
        chat.members[owner.id] = owner
        for member in members:
            chat.members[member.id] = member
        self._chats[cid] = chat
        return chat

    def chat(self, chat_id: int | SimChat) -> SimChat:
        return self._chats[_chat_id(chat_id)]

    def set_bot_status(self, chat: int | SimChat, status: str) -> None:
        """ "member", "administrator" (sees every message), "left" or "kicked"."""
        if status not in ("member", "administrator", "left", "kicked"):
            raise ValueError(status)
        self.chat(chat).bot_status = status

    def block_bot(self, user: SimUser, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sending to them gives 403."""
        self.create_private_chat(user).blocked = blocked

    def migrate_to_supergroup(self, chat: SimChat) -> SimChat:
        """Upgrade a basic group; the old id then answers 400 with migrate_to_chat_id."""
        if chat.type != "group":
            raise ValueError("only basic groups can be upgraded")
        new = self.create_group(
            chat.title or "",
            chat.members.values(),
            supergroup=True,
            owner=self._users.get(chat.owner_id or 0),
        )
        new.bot_status = chat.bot_status
        chat.migrated_to = new.id
        return new

    def create_topic(
        self, chat: SimChat, name: str, *, creator: SimUser | None = None
    ) -> SimTopic:
        """A forum topic, opened by ``creator`` (the owner by default) with its service message.

        The bot gets that service message as an update (in groups bots see service messages).
        """
        if not chat.is_forum:
            raise ValueError("topics exist only in forum supergroups")
        creator = creator or self._users[chat.owner_id or 0]
        color = next(self._topic_colors)
        mid = self._alloc_message_id(chat)
        data: dict[str, Any] = {
            "message_id": mid,
            "message_thread_id": mid,
            "from": creator.to_dict(),
            "chat": chat.to_dict(),
            "date": _now(),
            "forum_topic_created": {"name": name, "icon_color": color},
            "is_topic_message": True,
        }
        topic = SimTopic(thread_id=mid, name=name, icon_color=color, creator_id=creator.id)
        chat.topics[mid] = topic
        self._store(chat, data, from_bot=False)
        self._deliver_user_message(chat, data, "message")
        return topic

    def join(self, chat: SimChat, user: SimUser) -> dict[str, Any]:
        """A user joins a group: a ``new_chat_members`` service message."""
        chat.members[user.id] = user
        return self._service_message(chat, user, {"new_chat_members": [user.to_dict()]})

    def leave(self, chat: SimChat, user: SimUser) -> dict[str, Any]:
        """A user leaves a group: a ``left_chat_member`` service message."""
        chat.members.pop(user.id, None)
        return self._service_message(chat, user, {"left_chat_member": user.to_dict()})

    def _service_message(
        self, chat: SimChat, user: SimUser, content: dict[str, Any]
    ) -> dict[str, Any]:
        data = {
            "message_id": self._alloc_message_id(chat),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": _now(),
            **content,
        }
        self._store(chat, data, from_bot=False)
        self._deliver_user_message(chat, data, "message")
        return _clone(data)

    # ---------------------------------------------------------------- users acting

    def send_text(
        self,
        chat: int | SimChat,
        user: SimUser,
        text: str,
        reply_to: Mapping[str, Any] | int | None = None,
        thread_id: int | SimTopic | None = None,
        *,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``user`` sends ``text`` in ``chat``; returns the Message (delivered or not).

        Entities Telegram detects (bot_command, mention, hashtag, cashtag, url) are added in
        UTF-16 units; ``entities`` adds formatting the user typed. In groups with privacy mode
        the bot only gets the update when Telegram would pass it on (see
        :meth:`was_delivered`).
        """
        if not text:
            raise ValueError("a text message needs text")
        plain, found = format_text(text, entities=entities or [])
        return self._user_message(
            chat, user, {"text": plain, "entities": found}, reply_to, thread_id
        )

    def send_photo(
        self,
        chat: int | SimChat,
        user: SimUser,
        caption: str | None = None,
        reply_to: Mapping[str, Any] | int | None = None,
        thread_id: int | SimTopic | None = None,
        *,
        content: bytes = b"\xff\xd8\xff\xe0 not really a jpeg",
        width: int = 1280,
        height: int = 960,
    ) -> dict[str, Any]:
        """A photo (three PhotoSize entries like Telegram sends), with an optional caption."""
        sizes = []
        for w in (90, 320, width):
            h = max(1, round(height * w / width))
            info = self._register_file(content, "photos", "jpg", "AgACAgIAAxkBAAI")
            sizes.append(
                {
                    "file_id": info["file_id"],
                    "file_unique_id": info["file_unique_id"],
                    "file_size": len(content),
                    "width": w,
                    "height": h,
                }
            )
        body: dict[str, Any] = {"photo": sizes}
        self._add_caption(body, caption)
        return self._user_message(chat, user, body, reply_to, thread_id)

    def send_sticker(
        self,
        chat: int | SimChat,
        user: SimUser,
        emoji: str = "👍",
        reply_to: Mapping[str, Any] | int | None = None,
        thread_id: int | SimTopic | None = None,
    ) -> dict[str, Any]:
        """A static sticker."""
        info = self._register_file(b"RIFF sticker", "stickers", "webp", "CAACAgIAAxkBAAI")
        sticker = {
            "width": 512,
            "height": 512,
            "emoji": emoji,
            "set_name": "TestStickers",
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_size": len(info["content"]),
        }
        return self._user_message(chat, user, {"sticker": sticker}, reply_to, thread_id)

    def send_voice(
        self,
        chat: int | SimChat,
        user: SimUser,
        duration: int = 3,
        reply_to: Mapping[str, Any] | int | None = None,
        thread_id: int | SimTopic | None = None,
        *,
        content: bytes = b"OggS not really opus",
    ) -> dict[str, Any]:
        """A voice note."""
        info = self._register_file(content, "voice", "oga", "AwACAgIAAxkBAAI")
        voice = {
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_size": len(content),
        }
        return self._user_message(chat, user, {"voice": voice}, reply_to, thread_id)

    def send_document(
        self,
        chat: int | SimChat,
        user: SimUser,
        file_name: str = "notes.txt",
        content: bytes = b"hello",
        mime_type: str | None = "text/plain",
        caption: str | None = None,
        reply_to: Mapping[str, Any] | int | None = None,
        thread_id: int | SimTopic | None = None,
    ) -> dict[str, Any]:
        """A document (``message.document``); the bot fetches it with getFile and then the
        file route, as with the real Bot API (which refuses files over 20 MB to bots).
        ``mime_type=None`` leaves the field out, as clients sometimes do."""
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        info = self._register_file(content, "documents", ext, "BQACAgIAAxkBAAI")
        document = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_size": len(content),
        }
        if mime_type is None:
            del document["mime_type"]
        body: dict[str, Any] = {"document": document}
        self._add_caption(body, caption)
        return self._user_message(chat, user, body, reply_to, thread_id)

    def edit_text(
        self, message: Mapping[str, Any], text: str, *, user: SimUser | None = None
    ) -> dict[str, Any]:
        """The author edits a text message: an ``edited_message`` update with ``edit_date``."""
        key = (message["chat"]["id"], message["message_id"])
        stored = self._messages[key]
        if stored.from_bot or "text" not in stored.data:
            raise ValueError("only a user's text message can be edited with edit_text")
        if user is not None and stored.data["from"]["id"] != user.id:
            raise ValueError("users can only edit their own messages")
        plain, found = format_text(text)
        data = stored.data
        data["text"] = plain
        _set_entities(data, "entities", found)
        data["edit_date"] = _now()
        stored.versions.append(_clone(data))
        chat = self._chats[key[0]]
        was = stored.delivered
        if self._should_deliver(chat, data) or was:
            self._enqueue("edited_message", data)
        return _clone(data)

    def press_button(
        self,
        chat: int | SimChat,
        user: SimUser,
        message: Mapping[str, Any] | int,
        callback_data: str,
        *,
        forged: bool = False,
    ) -> dict[str, Any]:
        """``user`` presses the inline button with ``callback_data`` under a bot message.

        Returns the CallbackQuery; answer it with answerCallbackQuery (see
        :meth:`wait_for_callback_answer`). ``forged=True`` sends data that no button carries,
        as a modified client can.
        """
        cid = _chat_id(chat)
        mid = message if isinstance(message, int) else message["message_id"]
        stored = self._messages.get((cid, mid))
        if stored is None or stored.deleted:
            raise ValueError(f"no message {mid} in chat {cid}")
        markup = stored.data.get("reply_markup", {}).get("inline_keyboard", [])
        if not forged and not any(
            b.get("callback_data") == callback_data for row in markup for b in row
        ):
            raise ValueError(f"message {mid} has no button with callback_data {callback_data!r}")
        query_id = str(secrets.randbits(63))
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": _clone(stored.data),
            "chat_instance": self._chat_instance(cid),
            "data": callback_data,
        }
        self._callback_queries[query_id] = {"query": query, "time": time.monotonic()}
        self._enqueue("callback_query", query)
        return _clone(query)

    def _chat_instance(self, chat_id: int) -> str:
        digest = hashlib.sha256(f"{self.bot_id}:{chat_id}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big", signed=True))

    def _add_caption(self, body: dict[str, Any], caption: str | None) -> None:
        if caption:
            plain, found = format_text(caption)
            body["caption"] = plain
            _set_entities(body, "caption_entities", found)

    def _register_file(self, content: bytes, folder: str, ext: str, prefix: str) -> dict[str, Any]:
        unique = secrets.token_urlsafe(9).replace("-", "A").replace("_", "B")
        file_id = prefix + secrets.token_urlsafe(48)
        info = {
            "file_id": file_id,
            "file_unique_id": "AQAD" + unique[:12],
            "file_path": f"{folder}/file_{len(self._files)}.{ext}",
            "content": content,
        }
        self._files[file_id] = info
        return info

    def _user_message(
        self,
        chat: int | SimChat,
        user: SimUser,
        body: dict[str, Any],
        reply_to: Mapping[str, Any] | int | None,
        thread_id: int | SimTopic | None,
    ) -> dict[str, Any]:
        sim = self.chat(chat)
        if sim.type == "private" and sim.id != user.id:
            raise ValueError("only the chat's user writes in a private chat")
        if sim.type != "private" and user.id not in sim.members:
            sim.members[user.id] = user
        if isinstance(thread_id, SimTopic):
            thread_id = thread_id.thread_id
        reply_stored = None
        if reply_to is not None:
            rid = reply_to if isinstance(reply_to, int) else reply_to["message_id"]
            reply_stored = self._messages.get((sim.id, rid))
            if reply_stored is None or reply_stored.deleted:
                raise ValueError(f"no message {rid} in chat {sim.id} to reply to")
        if thread_id == 1 and sim.is_forum:
            thread_id = None  # the General topic
        thread, is_topic, implicit = self._resolve_thread(sim, thread_id, reply_stored)
        data = self._build_message(
            sim, user.to_dict(), body, reply_stored or implicit, thread, is_topic
        )
        self._store(sim, data, from_bot=False)
        self._deliver_user_message(sim, data, "message")
        return _clone(data)

    def _deliver_user_message(self, chat: SimChat, data: dict[str, Any], kind: str) -> None:
        if self._should_deliver(chat, data):
            self._messages[(chat.id, data["message_id"])].delivered = True
            self._enqueue(kind, data)

    def _should_deliver(self, chat: SimChat, data: dict[str, Any]) -> bool:
        """Telegram's rules for what a bot gets (privacy mode in groups)."""
        if chat.type == "private":
            return not chat.blocked
        if chat.bot_status not in ("member", "administrator") or chat.migrated_to:
            return False
        if data.get("from", {}).get("is_bot"):
            return False  # bots never see other bots' messages
        if chat.bot_status == "administrator" or self.can_read_all_group_messages:
            return True
        content_keys = {
            "text",
            "photo",
            "sticker",
            "voice",
            "document",
            "video",
            "audio",
            "animation",
            "video_note",
            "contact",
            "location",
            "venue",
            "poll",
            "dice",
        }
        if not content_keys & data.keys():
            return True  # service messages
        reply = data.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot_id:
            return True
        if data.get("via_bot", {}).get("id") == self.bot_id:
            return True  # messages sent via the bot's inline mode
        text = data.get("text") if "text" in data else data.get("caption", "")
        entities = data.get("entities") if "text" in data else data.get("caption_entities")
        me = self.bot_username.lower()
        for entity in entities or []:
            piece = _entity_text(text or "", entity)
            if entity["type"] == "bot_command":
                _, _, target = piece.partition("@")
                if target.lower() == me or (not target and entity["offset"] == 0):
                    return True
            elif _addresses_bot(entity, piece, me, self.bot_id):
                return True
        return False

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        allowed = self._webhook.allowed_updates if self._webhook else None
        allowed_set = frozenset(allowed) if allowed else self._allowed_updates
        if kind not in allowed_set:
            return None
        update = {"update_id": next(self._update_ids), kind: _clone(payload)}
        self._pending.append(update)
        self._notify()
        return update

    # ---------------------------------------------------------------- messages

    def _alloc_message_id(self, chat: SimChat) -> int:
        # Supergroups number their messages per chat; private chats and basic groups share
        # one sequence per account (here: the bot's).
        if chat.type in ("supergroup", "channel"):
            chat.next_message_id += 1
            return chat.next_message_id
        self._global_message_id += 1
        return self._global_message_id

    def _store(self, chat: SimChat, data: dict[str, Any], *, from_bot: bool) -> StoredMessage:
        stored = StoredMessage(data=data, from_bot=from_bot, versions=[_clone(data)])
        self._messages[(chat.id, data["message_id"])] = stored
        self._chat_order.setdefault(chat.id, []).append(data["message_id"])
        self._notify()
        return stored

    def _resolve_thread(
        self, chat: SimChat, thread_id: int | None, reply: StoredMessage | None
    ) -> tuple[int | None, bool, StoredMessage | None]:
        """(message_thread_id, is_topic_message, implicit reply) for a new message."""
        if chat.is_forum:
            if thread_id is None and reply is not None and reply.data.get("is_topic_message"):
                thread_id = reply.data.get("message_thread_id")
            if thread_id is None:
                return None, False, None  # the General topic
            topic = chat.topics.get(thread_id)
            if topic is None:
                raise _bad("message thread not found")
            if reply is not None and reply.data.get("message_thread_id") != thread_id:
                raise _bad("message to be replied not found")
            # A message in a topic replies to the topic's creation message unless it replies
            # to something else.
            implicit = self._messages.get((chat.id, topic.thread_id))
            return thread_id, True, implicit
        if chat.type == "supergroup":
            if thread_id is not None:
                root = self._messages.get((chat.id, thread_id))
                if root is None or root.deleted:
                    raise _bad("message thread not found")
                return thread_id, False, None
            if reply is not None:
                return reply.data.get("message_thread_id", reply.data["message_id"]), False, None
            return None, False, None
        if thread_id is not None:
            raise _bad("message thread not found")
        return None, False, None

    def _build_message(
        self,
        chat: SimChat,
        sender: dict[str, Any],
        body: dict[str, Any],
        reply: StoredMessage | None,
        thread_id: int | None,
        is_topic: bool,
        *,
        quote: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"message_id": self._alloc_message_id(chat)}
        if thread_id is not None:
            data["message_thread_id"] = thread_id
        data["from"] = _clone(sender)
        data["chat"] = chat.to_dict()
        data["date"] = _now()
        if reply is not None:
            replied = _clone(reply.data)
            replied.pop("reply_to_message", None)
            data["reply_to_message"] = replied
        if quote is not None:
            data["quote"] = quote
        for key, value in body.items():
            if key in ("entities", "caption_entities") and not value:
                continue
            data[key] = _clone(value)
        if is_topic:
            data["is_topic_message"] = True
        return data

    def _find_chat(self, p: _Params, name: str = "chat_id") -> SimChat:
        raw = p.raw.get(name)
        if raw is None or raw == "":
            raise _bad(f"{name} is empty")
        chat: SimChat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            wanted = raw[1:].lower()
            chat = next(
                (
                    c
                    for c in self._chats.values()
                    if c.type != "private" and (c.username or "").lower() == wanted
                ),
                None,
            )
        elif isinstance(raw, int) and not isinstance(raw, bool):
            chat = self._chats.get(raw)
            if chat is None and raw in self._users:
                raise _forbidden("bot can't initiate conversation with a user")
        if chat is None:
            raise _bad("chat not found")
        if chat.migrated_to:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _check_can_write(self, chat: SimChat) -> None:
        if chat.type == "private":
            if chat.blocked:
                raise _forbidden("bot was blocked by the user")
            return
        if chat.bot_status == "kicked":
            kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
            raise _forbidden(f"bot was kicked from the {kind}")
        if chat.bot_status == "left":
            kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
            raise _forbidden(f"bot is not a member of the {kind}")

    def _message_text(self, p: _Params) -> tuple[str, list[dict[str, Any]]]:
        text = p.str("text", "") or ""
        if not text:
            raise _bad("message text is empty")
        entities = p.json("entities", "can't parse entities JSON object")
        try:
            plain, found = format_text(
                text,
                p.str("parse_mode"),
                entities,
                strict_html=self.strict_html,
                user_lookup=self._lookup_user_dict,
            )
        except EntityParseError as err:
            raise _bad(f"can't parse entities: {err}") from None
        except ValueError as err:
            raise _bad(str(err)) from None
        if not plain:
            raise _bad("message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad("message is too long")
        return plain, found

    def _lookup_user_dict(self, user_id: int) -> dict[str, Any] | None:
        if user_id == self.bot_id:
            return self.bot_user
        user = self._users.get(user_id)
        return user.to_dict() if user else None

    def _reply_markup(self, p: _Params) -> tuple[bool, dict[str, Any] | None]:
        """(given?, the inline keyboard to store or None)."""
        if "reply_markup" not in p:
            return False, None
        markup = p.json("reply_markup", "can't parse reply keyboard markup JSON object")
        if markup == "" or markup is None:
            return True, None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return True, _check_inline_keyboard(markup["inline_keyboard"])
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" must be an Array of Arrays')
            return True, None
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return True, None
        raise _bad("can't parse reply keyboard markup JSON object")

    def _reply_target(
        self, chat: SimChat, p: _Params
    ) -> tuple[StoredMessage | None, dict[str, Any] | None]:
        params = p.json("reply_parameters", "can't parse reply parameters JSON object")
        if params is None and "reply_to_message_id" in p:
            params = {
                "message_id": p.int("reply_to_message_id"),
                "allow_sending_without_reply": p.bool("allow_sending_without_reply"),
            }
        if params is None:
            return None, None
        if not isinstance(params, dict) or not isinstance(params.get("message_id"), int):
            raise _bad("can't parse reply parameters JSON object")
        target_chat = chat
        if params.get("chat_id") not in (None, chat.id):
            target = params["chat_id"]
            target_chat = self._find_chat(_Params({"chat_id": target}))
        stored = self._messages.get((target_chat.id, params["message_id"]))
        if stored is None or stored.deleted:
            if params.get("allow_sending_without_reply") and target_chat is chat:
                return None, None
            raise _bad("message to be replied not found")
        quote = None
        if params.get("quote"):
            source = stored.data.get("text", stored.data.get("caption", ""))
            position = params.get("quote_position")
            wanted = params["quote"]
            index = source.find(wanted) if position is None else position
            if index < 0 or source[index : index + len(wanted)] != wanted:
                raise _bad("QUOTE_TEXT_INVALID")
            quote = {
                "text": wanted,
                "position": utf16_len(source[:index]),
                "is_manual": True,
            }
        return stored, quote

    # ---------------------------------------------------------------- methods

    async def _true(self, p: _Params) -> bool:
        return True

    async def _get_me(self, p: _Params) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: _Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = p.int("offset", 0) or 0
        limit = min(max(p.int("limit", 100) or 100, 1), 100)
        timeout = p.raw.get("timeout")
        try:
            wait = max(0.0, float(timeout)) if timeout not in (None, "") else 0.0
        except (TypeError, ValueError):
            wait = 0.0
        if "allowed_updates" in p:
            allowed = p.json("allowed_updates", "can't parse allowed updates JSON object")
            if isinstance(allowed, list):
                chosen = frozenset(str(a) for a in allowed) & ALL_UPDATE_TYPES
                self._allowed_updates = chosen or DEFAULT_UPDATE_TYPES
        if offset > 0:
            self._confirm_below(offset)
        elif offset < 0:
            dropped = self._pending[:offset] if -offset < len(self._pending) else []
            self._pending = self._pending[offset:]
            if dropped:
                self._confirmed_update_id = max(
                    self._confirmed_update_id, dropped[-1]["update_id"]
                )
            self._notify()

        if self._current_poll is not None:
            self._current_poll.terminated = True
        poll = _Poll()
        self._current_poll = poll
        self._notify()
        deadline = time.monotonic() + wait
        try:
            while True:
                if poll.terminated:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                if self._webhook is not None:
                    raise ApiError(
                        409,
                        "Conflict: can't use getUpdates method while webhook is active; use "
                        "deleteWebhook to delete the webhook first",
                    )
                batch = self._pending[:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._closing:
                    break
                await self._wait_change(remaining)
        finally:
            if self._current_poll is poll:
                self._current_poll = None
        seen = {u["update_id"] for u in self._delivered_updates}
        for update in batch:
            if update["update_id"] not in seen:
                self._delivered_updates.append(_clone(update))
        return _clone(batch)

    def _confirm_below(self, offset: int) -> None:
        before = len(self._pending)
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self._confirmed_update_id = max(self._confirmed_update_id, offset - 1)
        if len(self._pending) != before:
            self._notify()

    async def _set_webhook(self, p: _Params) -> _Described:
        url = p.str("url", "") or ""
        if not url:
            return await self._delete_webhook(p)
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise _bad("bad webhook: Failed to resolve host: Name or service not known")
        if self.webhook_require_https and not url.lower().startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.str("secret_token")
        if secret is not None and secret != "" and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = p.int("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            max_connections = min(max(max_connections, 1), 100)
        allowed = None
        if "allowed_updates" in p:
            raw = p.json("allowed_updates", "can't parse allowed updates JSON object")
            if isinstance(raw, list):
                allowed = [str(a) for a in raw if str(a) in ALL_UPDATE_TYPES]
                self._allowed_updates = frozenset(allowed) or DEFAULT_UPDATE_TYPES
        if p.bool("drop_pending_updates"):
            self._drop_pending()
        same = self._webhook is not None and self._webhook.url == url
        self._webhook = _Webhook(
            url=url,
            secret_token=secret or None,
            max_connections=max_connections,
            allowed_updates=allowed,
            ip_address=p.str("ip_address"),
        )
        if self._current_poll is not None:
            self._current_poll.terminated = True
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._notify()
        return _Described(True, "Webhook is already set" if same else "Webhook was set")

    async def _delete_webhook(self, p: _Params) -> _Described:
        if p.bool("drop_pending_updates"):
            self._drop_pending()
        had = self._webhook is not None
        self._webhook = None
        self._notify()
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _drop_pending(self) -> None:
        if self._pending:
            self._confirmed_update_id = self._pending[-1]["update_id"]
        self._pending.clear()
        self._notify()

    async def _get_webhook_info(self, p: _Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook is not None:
            wh = self._webhook
            if wh.ip_address:
                info["ip_address"] = wh.ip_address
            if wh.last_error_date is not None:
                info["last_error_date"] = wh.last_error_date
                info["last_error_message"] = wh.last_error_message
            info["max_connections"] = wh.max_connections
            if wh.allowed_updates:
                info["allowed_updates"] = list(wh.allowed_updates)
        return info

    async def _webhook_loop(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._closing and self._webhook is not None:
                if not self._pending:
                    await self._wait_change(1.0)
                    continue
                webhook = self._webhook
                update = self._pending[0]
                headers = {"Content-Type": "application/json"}
                if webhook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
                error: str | None = None
                body = b""
                try:
                    async with session.post(
                        webhook.url,
                        data=json.dumps(update, ensure_ascii=False).encode(),
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                    ) as response:
                        body = await response.read()
                        if not 200 <= response.status < 300:
                            error = (
                                f"Wrong response from the webhook: {response.status} "
                                f"{response.reason}"
                            )
                except TimeoutError:
                    error = "Read timeout expired"
                except aiohttp.ClientConnectorError:
                    error = "Connection refused"
                except aiohttp.ClientError as exc:
                    error = f"Connection error: {exc.__class__.__name__}"
                if error is not None:
                    webhook.last_error_date = _now()
                    webhook.last_error_message = error
                    self.webhook_failures.append(error)
                    self._notify()
                    await self._sleep_unless_closing(self.webhook_retry_delay)
                    continue
                if self._pending and self._pending[0]["update_id"] == update["update_id"]:
                    self._pending.pop(0)
                self._confirmed_update_id = max(self._confirmed_update_id, update["update_id"])
                self._delivered_updates.append(_clone(update))
                self.webhook_deliveries.append(_clone(update))
                self._notify()
                await self._webhook_reply(body)

    async def _webhook_reply(self, body: bytes) -> None:
        """A webhook may answer with a method call: ``{"method": "sendMessage", ...}``."""
        if not body:
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            return
        params = _normalize_params({k: v for k, v in data.items() if k != "method"})
        method = self._method_names.get(data["method"].lower(), data["method"])
        call = self._record(method, params, "WEBHOOK")
        call.source = "webhook_reply"
        if method in self._methods and method != "getUpdates":
            call.response, call.status = await self._execute(method, params)
        else:
            call.response = {"ok": False, "error_code": 404, "description": "Not Found"}
            call.status = 404
        self._notify()

    async def _send_message(self, p: _Params) -> dict[str, Any]:
        chat = self._find_chat(p)
        self._check_can_write(chat)
        plain, found = self._message_text(p)
        _, markup = self._reply_markup(p)
        reply, quote = self._reply_target(chat, p)
        thread_id = p.int("message_thread_id")
        thread, is_topic, implicit = self._resolve_thread(chat, thread_id, reply)
        body: dict[str, Any] = {"text": plain, "entities": found}
        link_options = p.json("link_preview_options", "can't parse link preview options")
        if isinstance(link_options, dict) and link_options:
            body["link_preview_options"] = link_options
        if markup:
            body["reply_markup"] = markup
        data = self._build_message(
            chat, self.bot_user, body, reply or implicit, thread, is_topic, quote=quote
        )
        self._store(chat, data, from_bot=True)
        return _clone(data)

    def _editable(self, p: _Params) -> StoredMessage:
        if "inline_message_id" in p:
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._find_chat(p)
        mid = p.int("message_id", required=True)
        stored = self._messages.get((chat.id, mid or 0))
        if stored is None or stored.deleted:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return stored

    async def _edit_message_text(self, p: _Params) -> dict[str, Any]:
        stored = self._editable(p)
        plain, found = self._message_text(p)
        _, markup = self._reply_markup(p)
        data = stored.data
        if "text" not in data:
            raise _bad("there is no text in the message to edit")
        if (
            data["text"] == plain
            and data.get("entities", []) == found
            and data.get("reply_markup") == markup
        ):
            raise _bad(_NOT_MODIFIED)
        data["text"] = plain
        _set_entities(data, "entities", found)
        _set_markup(data, markup)
        data["edit_date"] = _now()
        stored.versions.append(_clone(data))
        self._notify()
        return _clone(data)

    async def _edit_message_reply_markup(self, p: _Params) -> dict[str, Any]:
        stored = self._editable(p)
        _, markup = self._reply_markup(p)
        data = stored.data
        if data.get("reply_markup") == markup:
            raise _bad(_NOT_MODIFIED)
        _set_markup(data, markup)
        data["edit_date"] = _now()
        stored.versions.append(_clone(data))
        self._notify()
        return _clone(data)

    async def _delete_message(self, p: _Params) -> bool:
        chat = self._find_chat(p)
        mid = p.int("message_id", required=True)
        self._delete_one(chat, mid or 0)
        return True

    def _delete_one(self, chat: SimChat, mid: int) -> None:
        stored = self._messages.get((chat.id, mid))
        if stored is None or stored.deleted:
            raise _bad("message to delete not found")
        if not stored.from_bot and chat.type != "private" and chat.bot_status != "administrator":
            raise _bad("message can't be deleted")
        stored.deleted = True
        self._notify()

    async def _delete_messages(self, p: _Params) -> bool:
        chat = self._find_chat(p)
        ids = p.json("message_ids", "can't parse message identifiers JSON object")
        if not isinstance(ids, list) or not ids or len(ids) > 100:
            raise _bad("message identifiers are not specified")
        for mid in ids:
            with contextlib.suppress(ApiError):
                self._delete_one(chat, int(mid))
        return True

    async def _answer_callback_query(self, p: _Params) -> bool:
        qid = p.str("callback_query_id", "") or ""
        if not qid:
            raise _bad("callback_query_id is empty")
        if qid not in self._callback_queries or qid in self.callback_answers:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.str("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        answer: dict[str, Any] = {"callback_query_id": qid}
        for key in ("text", "url"):
            if key in p:
                answer[key] = p.str(key)
        answer["show_alert"] = p.bool("show_alert")
        if "cache_time" in p:
            answer["cache_time"] = p.int("cache_time")
        self.callback_answers[qid] = answer
        self._notify()
        return True

    async def _send_chat_action(self, p: _Params) -> bool:
        chat = self._find_chat(p)
        self._check_can_write(chat)
        action = p.str("action", "") or ""
        if action not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        thread = p.int("message_thread_id")
        if thread is not None:
            self._resolve_thread(chat, thread, None)
        self.chat_actions.append(
            {
                "chat_id": chat.id,
                "action": action,
                "message_thread_id": thread,
                "time": time.time(),
            }
        )
        self._notify()
        return True

    def _scope_key(
        self, scope: dict[str, Any], language_code: str
    ) -> tuple[str, int | None, int | None, str]:
        kind = scope.get("type")
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return (kind, None, None, language_code)
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._find_chat(_Params({"chat_id": scope.get("chat_id")}))
            user_id = None
            if kind == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or user_id not in self._users:
                    raise _bad("user not found")
            return (kind, chat.id, user_id, language_code)
        raise _bad("unsupported bot command scope type")

    def _commands_scope(self, p: _Params) -> tuple[str, int | None, int | None, str]:
        scope = p.json("scope", "can't parse BotCommandScope JSON object") or {"type": "default"}
        if not isinstance(scope, dict):
            raise _bad("can't parse BotCommandScope JSON object")
        language = p.str("language_code", "") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad("invalid language code specified")
        return self._scope_key(scope, language)

    async def _set_my_commands(self, p: _Params) -> bool:
        commands = p.json("commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands specified")
        clean = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad("can't parse BotCommand JSON object")
            command = str(item.get("command", ""))
            description = str(item.get("description", ""))
            if command.startswith("/"):
                command = command[1:]
            if not _COMMAND_RE.match(command):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._commands_scope(p)
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        self._notify()
        return True

    async def _get_my_commands(self, p: _Params) -> list[dict[str, str]]:
        return _clone(self._commands.get(self._commands_scope(p), []))

    async def _delete_my_commands(self, p: _Params) -> bool:
        self._commands.pop(self._commands_scope(p), None)
        self._notify()
        return True

    async def _set_chat_menu_button(self, p: _Params) -> bool:
        chat_id = None
        if "chat_id" in p:
            chat = self._find_chat(p)
            if chat.type != "private":
                raise _bad("chat_id must be a private chat")
            chat_id = chat.id
        button = p.json("menu_button", "can't parse menu button JSON object") or {
            "type": "default"
        }
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad("can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    async def _get_chat_menu_button(self, p: _Params) -> dict[str, Any]:
        chat_id = self._find_chat(p).id if "chat_id" in p else None
        button = self._menu_buttons.get(chat_id) or self._menu_buttons.get(None)
        return _clone(button or {"type": "commands"})

    async def _get_chat(self, p: _Params) -> dict[str, Any]:
        chat = self._find_chat(p)
        info = chat.to_dict()
        info.update(
            {
                "accent_color_id": chat.id % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        if chat.type != "private":
            info["permissions"] = {
                "can_send_messages": True,
                "can_send_audios": True,
                "can_send_documents": True,
                "can_send_photos": True,
                "can_send_videos": True,
                "can_send_video_notes": True,
                "can_send_voice_notes": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
                "can_change_info": False,
                "can_invite_users": True,
                "can_pin_messages": False,
                "can_manage_topics": False,
            }
        return info

    async def _get_chat_member(self, p: _Params) -> dict[str, Any]:
        chat = self._find_chat(p)
        user_id = p.int("user_id", required=True)
        if user_id == self.bot_id:
            if chat.type == "private" or chat.bot_status == "member":
                return {"user": self.bot_user, "status": "member"}
            if chat.bot_status == "administrator":
                return {"user": self.bot_user, "status": "administrator", **_ADMIN_RIGHTS}
            return {
                "user": self.bot_user,
                "status": chat.bot_status if chat.bot_status != "kicked" else "left",
            }
        user = self._users.get(user_id or 0)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            status = "member" if chat.id == user.id else "left"
            return {"user": user.to_dict(), "status": status}
        if chat.owner_id == user.id:
            return {"user": user.to_dict(), "status": "creator", "is_anonymous": False}
        status = "member" if user.id in chat.members else "left"
        return {"user": user.to_dict(), "status": status}

    async def _get_chat_member_count(self, p: _Params) -> int:
        chat = self._find_chat(p)
        if chat.type == "private":
            return 2
        return len(chat.members) + 1

    async def _leave_chat(self, p: _Params) -> bool:
        chat = self._find_chat(p)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        chat.bot_status = "left"
        return True

    async def _get_file(self, p: _Params) -> dict[str, Any]:
        file_id = p.str("file_id", "") or ""
        info = self._files.get(file_id)
        if info is None:
            raise _bad("invalid file_id")
        if len(info["content"]) > MAX_DOWNLOAD_BYTES:
            # The cloud Bot API lets bots download files of at most 20 MB.
            raise _bad("file is too big")
        info["served"] = True
        return {
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_size": len(info["content"]),
            "file_path": info["file_path"],
        }


_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


@dataclass
class _Described:
    result: Any
    description: str


def _now() -> int:
    return int(time.time())


def _chat_id(chat: int | SimChat | Mapping[str, Any]) -> int:
    if isinstance(chat, SimChat):
        return chat.id
    if isinstance(chat, Mapping):
        return int(chat["id"])
    return int(chat)


def _entity_text(text: str, entity: Mapping[str, Any]) -> str:
    encoded = text.encode("utf-16-le")
    start = entity["offset"] * 2
    end = start + entity["length"] * 2
    return encoded[start:end].decode("utf-16-le", "replace")


def _addresses_bot(entity: Mapping[str, Any], piece: str, username: str, bot_id: int) -> bool:
    if entity["type"] == "mention":
        return piece[1:].lower() == username
    return entity["type"] == "text_mention" and entity["user"]["id"] == bot_id


def _set_entities(data: dict[str, Any], key: str, entities: list[dict[str, Any]]) -> None:
    if entities:
        data[key] = entities
    else:
        data.pop(key, None)


def _set_markup(data: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup:
        data["reply_markup"] = markup
    else:
        data.pop("reply_markup", None)


def _check_inline_keyboard(rows: Any) -> dict[str, Any] | None:
    """Validate an inline keyboard like the Bot API; the markup to echo (None if empty)."""
    if not isinstance(rows, list):
        raise _bad('field "inline_keyboard" must be an Array')
    clean_rows = []
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise _bad('field "inline_keyboard" must be an Array of Arrays')
        clean_row = []
        for button in row:
            if not isinstance(button, dict):
                raise _bad(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            text = button.get("text")
            if not isinstance(text, str):
                raise _bad("can't parse inline keyboard button: Can't find field \"text\"")
            if not text.strip():
                raise _bad("BUTTON_TEXT_INVALID")
            actions = [a for a in INLINE_BUTTON_ACTIONS if a in button]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str):
                    raise _bad(
                        'can\'t parse inline keyboard button: Field "callback_data" must be of '
                        "type String"
                    )
                if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not re.match(
                    r"^(https?|tg)://\S+$|^[\w-]+(\.[\w-]+)+(/\S*)?$", url
                ):
                    raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
            clean_row.append({"text": text, **{k: _clone(button[k]) for k in actions}})
            total += 1
        if clean_row:
            clean_rows.append(clean_row)
    if total > 100:
        raise _bad("reply markup is too long")
    return {"inline_keyboard": clean_rows} if clean_rows else None
