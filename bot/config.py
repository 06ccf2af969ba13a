"""config.toml -> typed, checked settings. A wrong or missing key fails at start, naming it.

The sections and their defaults are in config_schema.py, the checks that span keys in
config_checks.py; this module reads a file or a mapping, converts each value to its field's type,
applies the environment and reads the token."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config_checks import validate
from .config_schema import SECTIONS, Config, ConfigError, Part, Secret, defaults

__all__ = ["Config", "ConfigError", "Secret", "defaults", "load_config"]


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


def _section(name: str, parts: tuple[Part, ...], raw: Any, base: Path) -> dict[str, Any]:
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
    state = data.setdefault("state", {})
    if isinstance(state, dict) and environ.get("STORYBOT_STATE_URL"):
        state["url"] = environ["STORYBOT_STATE_URL"].strip()
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
        if key not in SECTIONS:
            raise ConfigError(
                f"Config section '{key}' is not known (known: {', '.join(sorted(SECTIONS))})."
            )
    fields: dict[str, Any] = {}
    for name, parts in SECTIONS.items():
        fields |= _section(name, parts, data.get(name, {}), base)
    config = Config(**fields)
    validate(config)
    return dataclasses.replace(
        config,
        token=_read_token(config, environ, base),
        admin_token=Secret(environ.get("STORYBOT_ADMIN_TOKEN", "").strip()),
        webhook_secret=Secret(environ.get("STORYBOT_WEBHOOK_SECRET", "").strip()),
        gaps_key=_gaps_key(environ),
    )


GAPS_KEY_CHARS = 32


def _gaps_key(environ: Mapping[str, str]) -> Secret:
    """``STORYBOT_GAPS_KEY``: the gap report's hash key, shared by replicas (else each bot makes
    one in a file beside its state); at least 32 characters. Its value is never echoed."""
    key = environ.get("STORYBOT_GAPS_KEY", "").strip()
    if key and len(key) < GAPS_KEY_CHARS:
        raise ConfigError(
            f"Environment variable 'STORYBOT_GAPS_KEY' must be at least {GAPS_KEY_CHARS} "
            f"characters (a random secret, e.g. from `openssl rand -hex 32`), not {len(key)}."
        )
    return Secret(key)
