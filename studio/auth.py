"""Optional sign-in: a password file, or a trusted header set by a reverse proxy.

With either, a visitor's session follows their login (the same gallery on every device): the
session id is an HMAC of the user name under a secret kept in the data folder, so it stays as
unguessable as an anonymous one. Passwords are stored as PBKDF2-SHA256 hashes (hashlib), one
`name:pbkdf2_sha256$iterations$salt$hash` line per user.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

ITERATIONS = 200_000


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hash_password(password, bytes.fromhex(salt), int(iterations)).split("$")[3]
    return hmac.compare_digest(candidate, digest)


def load_users(path: Path) -> dict[str, str]:
    """name -> stored hash, from a password file; blank lines and # comments are skipped."""
    users = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, stored = line.partition(":")
            users[name] = stored
    return users


def add_user(path: Path, name: str, password: str) -> None:
    """Add or replace a user in the password file (created with mode 0600)."""
    if not name or ":" in name or any(c.isspace() for c in name):
        raise ValueError("A user name must be non-empty, without spaces or ':'.")
    if len(password) < 8:
        raise ValueError("Use a password of at least 8 characters.")
    path = Path(path)
    users = load_users(path) if path.exists() else {}
    users[name] = hash_password(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{n}:{h}\n" for n, h in users.items())


def password_checker(path: Path):
    """A Gradio `auth=` callable checking the password file (re-read, so edits apply at once)."""

    def check(name: str, password: str) -> bool:
        stored = load_users(path).get(name)
        return stored is not None and check_password(stored, password)

    return check


def server_secret(data_dir: Path) -> bytes:
    """The key that turns user names into session ids (created once, mode 0600)."""
    path = Path(data_dir) / "identity" / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def session_id_for(user: str, secret: bytes) -> str:
    """The session id of a signed-in user: 43 url-safe characters, stable per user."""
    mac = hmac.new(secret, user.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")
