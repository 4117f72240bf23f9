"""Remote manifests: Content Credentials stored at a URL that the file names in its XMP
(`dcterms:provenance`), as cloud-publishing tools write them.

1. find the reference in the file (XMP is plain text in every container c2pa writes to)
2. fetch it, when the operator allows: https only, one address, no redirects, a deadline for
   the whole exchange and a size cap; by default only public network addresses (the URL comes
   from a stranger's file, so it must not reach the verifier's own network)
3. the bytes are then validated against the file like an embedded manifest (provenance.verify)

Written on the standard library's http.client so that every limit is ours to set: c2pa's own
fetcher has no size cap, deadline or redirect switch to hand it.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client
    import ssl

# Printable ASCII only, without quotes and angle brackets: the URL is shown to people.
_REFERENCE = re.compile(rb'dcterms:provenance(?:\s*=\s*"|>)\s*([\x21\x23-\x3b\x3d\x3f-\x7e]{1,2048})')
_SCAN_CHUNK = 1 << 20
_SCAN_OVERLAP = 4096
_READ_CHUNK = 64 * 1024
_USER_AGENT = "GenMedia-Studio-verify/1"


class RemoteFetchError(Exception):
    """The remote manifest could not be fetched; the message says why, in plain words."""


@dataclass(frozen=True)
class RemotePolicy:
    """Whether and how Verify fetches credentials stored at a URL."""

    fetch: bool = True
    timeout_s: float = 5.0           # for the whole exchange: connect, TLS, request, body
    max_bytes: int = 10 * 1024 * 1024
    # Extra CA certificates (PEM) to trust for HTTPS besides the system's (a private PKI, tests).
    ca_file: Path | None = None
    # Allow loopback, private and link-local addresses (off: a stranger's file must not make the
    # verifier call into its own network).
    allow_private: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], flag: Callable[[Mapping[str, str], str, bool], bool]) -> "RemotePolicy":
        """STUDIO_REMOTE_MANIFESTS (0/1), STUDIO_REMOTE_MANIFEST_TIMEOUT_S, STUDIO_REMOTE_MANIFEST_MAX_MB,
        STUDIO_REMOTE_MANIFEST_CA_FILE, STUDIO_REMOTE_MANIFEST_PRIVATE_HOSTS (0/1)."""
        ca_file = env.get("STUDIO_REMOTE_MANIFEST_CA_FILE") or None
        return cls(fetch=flag(env, "STUDIO_REMOTE_MANIFESTS", True),
                   timeout_s=float(env.get("STUDIO_REMOTE_MANIFEST_TIMEOUT_S") or 5.0),
                   max_bytes=int(float(env.get("STUDIO_REMOTE_MANIFEST_MAX_MB") or 10) * 1024 * 1024),
                   ca_file=Path(ca_file) if ca_file else None,
                   allow_private=flag(env, "STUDIO_REMOTE_MANIFEST_PRIVATE_HOSTS", False))


def find_reference(path: Path) -> str | None:
    """The URL of the remote manifest a file names in its XMP, or None."""
    tail, match = b"", None
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_SCAN_CHUNK), b""):
            window = tail + chunk
            match = _REFERENCE.search(window)
            if match and match.end() < len(window):  # else the URL may go on in the next chunk
                return match.group(1).decode("ascii")
            tail = window[-_SCAN_OVERLAP:]
        match = _REFERENCE.search(tail)
    return match.group(1).decode("ascii") if match else None


def host_of(url: str) -> str:
    """The host a URL names (the URL itself when it has none), for messages."""
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def fetch(url: str, policy: RemotePolicy) -> bytes:
    """The bytes at `url`, within the policy's limits; RemoteFetchError with the reason otherwise."""
    import http.client  # imported here: most files name no URL, and `studio verify` starts faster
    import ssl

    if not policy.fetch:
        raise RemoteFetchError("this verifier does not fetch remote credentials (the operator turned it off)")
    parts = _checked_url(url)
    deadline = time.monotonic() + policy.timeout_s
    host, port = parts.hostname, parts.port or 443
    address = _address(host, port, policy, deadline)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        context = ssl.create_default_context()
        if policy.ca_file is not None:
            context.load_verify_locations(cafile=str(policy.ca_file))
        raw = socket.create_connection((address, port), timeout=_left(deadline))
        conn = http.client.HTTPSConnection(host, port, timeout=_left(deadline), context=context)
        conn.sock = tls = context.wrap_socket(raw, server_hostname=host)
        try:
            conn.request("GET", target, headers={"Accept": "application/c2pa", "User-Agent": _USER_AGENT})
            tls.settimeout(_left(deadline))
            return _body(conn.getresponse(), tls, deadline, policy)
        finally:
            conn.close()
    except (socket.timeout, TimeoutError):
        raise RemoteFetchError(f"the server did not answer within {policy.timeout_s:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        raise RemoteFetchError(f"the server's certificate is not trusted ({exc.verify_message})") from None
    except (ssl.SSLError, OSError, http.client.HTTPException) as exc:
        raise RemoteFetchError(f"the server could not be reached ({_words(exc)})") from None


def _checked_url(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise RemoteFetchError("the address is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise RemoteFetchError(f"the address is not https ({parts.scheme or 'no scheme'}); only https is fetched")
    if not parts.hostname:
        raise RemoteFetchError("the address names no host")
    return parts


def _address(host: str, port: int, policy: RemotePolicy, deadline: float) -> str:
    """One resolved address to connect to (so the address checked is the one used). The lookup
    runs in a daemon thread: getaddrinfo has no timeout of its own, and an offline machine's
    resolver can take far longer than the deadline to give up."""
    found: dict = {}

    def look_up() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            found["error"] = exc

    lookup = threading.Thread(target=look_up, name="remote-manifest-dns", daemon=True)
    lookup.start()
    lookup.join(max(0.0, deadline - time.monotonic()))
    if "infos" not in found:
        waited = "" if "error" in found else f" within {policy.timeout_s:g} s"
        raise RemoteFetchError(f"the host {host} could not be found{waited} (is this verifier online?)")
    address = found["infos"][0][4][0]
    if not policy.allow_private and not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
        raise RemoteFetchError(f"the host {host} is on a private or local network, which this verifier does not call")
    return address


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _body(response: http.client.HTTPResponse, tls: ssl.SSLSocket, deadline: float, policy: RemotePolicy) -> bytes:
    """The response's body, refused on a redirect, an error status or past the size cap."""
    if 300 <= response.status < 400:
        where = host_of(response.getheader("Location") or "") or "another address"
        raise RemoteFetchError(f"the server redirected to {where}; redirects are not followed")
    if response.status != 200:
        raise RemoteFetchError(f"the server answered HTTP {response.status} {response.reason}".rstrip())
    cap_mb = f"{policy.max_bytes / (1024 * 1024):g} MB"
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise RemoteFetchError(f"the credentials are larger than {cap_mb} ({int(length)} bytes); not fetched")
    parts, size = [], 0
    while True:
        # The socket's timeout is what is left of the deadline, so a server that sends a byte
        # now and then cannot stretch the exchange past it.
        tls.settimeout(_left(deadline))
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > policy.max_bytes:
            raise RemoteFetchError(f"the credentials are larger than {cap_mb}; the download was stopped")
        parts.append(chunk)


def _words(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.rstrip(".")
