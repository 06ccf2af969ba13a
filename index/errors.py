"""Errors the engine raises. ``StoryError`` and its subclasses carry a message meant for people."""


class StoryError(Exception):
    """An error whose message can be shown to the user as it is."""


class DocumentError(StoryError):
    """A document of the corpus cannot be read."""


class IndexUnavailableError(StoryError):
    """The saved index is missing, damaged, or was built by another model."""


class IndexOutdatedError(IndexUnavailableError):
    """The saved index is whole but was written by an older storybot or another model: a
    reindex from the corpus replaces it."""


class ReindexInProgressError(StoryError):
    """A reindex was asked for while another one runs."""


class ModelLoadError(StoryError):
    """The embedding model cannot be loaded."""
