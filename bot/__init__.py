"""The Telegram bot, its configuration and command line, on the retrieval core in ``index``."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
