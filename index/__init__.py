"""Retrieval core: documents -> passages -> hybrid index -> cited answers. No Telegram here."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
