"""Typed readers for environment variables, so settings.py reads like a list of defaults."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kvapp.server.refusal import cannot_start


class ImproperEnvironment(ValueError):
    """An environment variable holds something its setting cannot use."""


@contextmanager
def refusing_bad_environment() -> Iterator[None]:
    """Around what loads the settings: a bad variable stops the start with one line, not a traceback."""
    try:
        yield
    except ImproperEnvironment as exc:
        cannot_start(str(exc))


def env_str(name: str, default: str) -> str:
    """The variable's text, or the default when it is unset or empty."""
    return os.environ.get(name) or default


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """A whole number at least ``minimum``; a typo fails at start, not at first use."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperEnvironment(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperEnvironment(f"{name}={value} must be at least {minimum}")
    return value


def env_bool(name: str, default: bool) -> bool:
    """True for 1/true/yes/on, False for 0/false/no/off (any case)."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperEnvironment(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list with blanks dropped."""
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret_key(path: Path) -> str:
    """DJANGO_SECRET_KEY, else a key generated once and kept in ``path`` (mode 0600).

    A generated file beats a hard-coded key: every install gets its own, and it survives
    restarts so signed values stay valid.
    """
    from_env = os.environ.get("DJANGO_SECRET_KEY")
    if from_env:
        return from_env
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    # Written aside, then linked into place: the file never exists without its key, and a
    # process that loses the race to another one starting uses the winner's key.
    key = secrets.token_urlsafe(50)
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(aside, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        aside.unlink()
    return key
