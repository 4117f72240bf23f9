"""Per-visitor state, held in `gr.State` (plain data only, so Gradio can copy it)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass
class Session:
    id: str
    last_seed: dict[str, int] = field(default_factory=dict)     # task -> seed of the last run
    selected: dict[str, str] = field(default_factory=dict)      # task -> gallery item id selected


def new_session_id() -> str:
    """An unguessable id; it also names the visitor's output folder."""
    return secrets.token_urlsafe(24)


def restore(token: str | None) -> Session:
    """The session for a token kept in the browser, or a fresh one when it is absent or malformed."""
    if isinstance(token, str) and _TOKEN.match(token):
        return Session(id=token)
    return Session(id=new_session_id())


def random_seed() -> int:
    return secrets.randbelow(2**32 - 16)


def ensure(session: Session | None, request=None, login=None) -> Session:
    """The visitor's session. API callers have no page load and so no session yet: a signed-in
    one gets their login's session (`login(request)`), anyone else a fresh one."""
    if isinstance(session, Session):
        return session
    session_id = login(request) if login is not None and request is not None else None
    return Session(id=session_id) if session_id else restore(None)
