"""API keys: read from a file, compared in constant time, and required before listening beyond loopback."""
from __future__ import annotations

import hmac
import ipaddress
import socket
import stat
from pathlib import Path

from ctxlearn.errors import ConfigError


def read_key(path: str | Path) -> str:
    """The key in ``path`` (surrounding whitespace removed). Refuses empty and short keys."""
    path = Path(path)
    try:
        key = path.read_text(encoding="utf-8-sig").strip()  # -sig: an editor's byte-order mark is not the key
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--api-key-file {path}: cannot read it ({err})") from None
    # ASCII only: HTTP headers arrive as latin-1, so a key with other characters could never match
    if len(key) < 16 or not key.isascii() or any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError(f"--api-key-file {path}: the key must be at least 16 printable ASCII characters without "
                          "spaces (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))' > key.txt`)")
    return key


def key_file_is_private(path: str | Path) -> bool:
    """False when group or others may read the key file (worth a warning, not a refusal)."""
    return not Path(path).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def key_matches(header: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <key>``; constant time in the key's content."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_exposure(host: str, key: str | None) -> None:
    """Refuse to listen beyond this machine without a key."""
    if key is None and not is_loopback(host):
        raise ConfigError(f"--host {host} accepts connections from other machines; give --api-key-file FILE so "
                          "clients must authenticate, or listen on --host 127.0.0.1")
