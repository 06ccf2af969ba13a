"""Retrieval core: documents -> passages -> hybrid index -> cited answers. Knows nothing of Telegram."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
