"""Sign-in: a password file gates the studio, and a login's session follows it across clients."""
import os
import stat

import pytest
from gradio_client import Client

from studio.auth import add_user, check_password, hash_password, load_users
from studio.cli import main

ARGS = ("a lighthouse", "", "none", "tiny-sd15", "fixed", 5, 2, 5.0, 256, 256, 1, "default")


def test_password_hashes_check_and_the_file_is_private(tmp_path):
    stored = hash_password("correct horse")
    assert check_password(stored, "correct horse") and not check_password(stored, "wrong horse")
    path = tmp_path / "users"
    add_user(path, "ana", "correct horse")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "correct horse" not in path.read_text() and set(load_users(path)) == {"ana"}
    with pytest.raises(ValueError, match="at least 8"):
        add_user(path, "bo", "short")


def test_cli_adds_a_user_from_stdin(tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["users", "add", "cy", "--file", str(tmp_path / "users"), "--password-stdin"]) == 0
    assert check_password(load_users(tmp_path / "users")["cy"], "a long password")


@pytest.fixture(scope="module")
def signed_in_url(tmp_path_factory, studio):
    """A second server of the same studio with a password file."""
    import dataclasses
    import socket

    from studio.ui import build_ui, launch_options

    users = tmp_path_factory.mktemp("auth") / "users"
    add_user(users, "ana", "ana's password")
    add_user(users, "bo", "bo's password!")
    original = studio.settings
    studio.settings = dataclasses.replace(original, auth_file=users)
    try:
        demo = build_ui(studio)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **launch_options(studio))
    finally:
        studio.settings = original
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_sign_in_is_required_and_a_login_keeps_its_gallery(signed_in_url):
    with pytest.raises(Exception):
        Client(signed_in_url, verbose=False, auth=("ana", "not her password"))
    first, _ = Client(signed_in_url, verbose=False, auth=("ana", "ana's password")).predict(*ARGS, api_name="/generate_image")
    again, _ = Client(signed_in_url, verbose=False, auth=("ana", "ana's password")).predict(*ARGS, api_name="/generate_image")
    other, _ = Client(signed_in_url, verbose=False, auth=("bo", "bo's password!")).predict(*ARGS, api_name="/generate_image")
    assert len(again) == len(first) + 1      # ana's second client sees ana's first image
    assert len(other) == 1                   # bo sees only his own
