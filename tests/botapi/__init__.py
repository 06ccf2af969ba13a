"""An in-process Telegram Bot API server for end-to-end tests of the bot.

See :class:`BotApiServer`; ``formatting`` holds the Bot API's text parsing (HTML, MarkdownV2,
automatic entities) that the server applies to what the bot sends.
"""

from .formatting import (
    EntityParseError,
    find_auto_entities,
    format_text,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    strip_html,
    utf16_len,
)
from .inline_mode import InlineAnswer
from .server import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_MESSAGE_LENGTH,
    ApiCall,
    ApiError,
    BotApiServer,
    Fault,
    FaultKind,
    SimChat,
    SimTopic,
    SimUser,
)

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_MESSAGE_LENGTH",
    "ApiCall",
    "ApiError",
    "BotApiServer",
    "EntityParseError",
    "Fault",
    "FaultKind",
    "InlineAnswer",
    "SimChat",
    "SimTopic",
    "SimUser",
    "find_auto_entities",
    "format_text",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "strip_html",
    "utf16_len",
]
