"""Launch waits for a slow page: Gradio's own check gives up after one 3 s HEAD and refuses to start."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gradio import networking

from studio.ui import patient_startup_probe


class SlowOnce(BaseHTTPRequestHandler):
    """The first answer takes longer than Gradio's 3 s timeout (a busy host rendering the page)."""

    answered = 0

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        if SlowOnce.answered == 0:
            time.sleep(3.5)
        SlowOnce.answered += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_page_slower_than_gradios_check_still_launches():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with patient_startup_probe(deadline_s=20):
            assert networking.url_ok(url)
        assert SlowOnce.answered >= 1
        with patient_startup_probe(deadline_s=1):
            server.shutdown()
            server.server_close()
            started = time.monotonic()
            assert not networking.url_ok(url)   # nothing there: it gives up at the deadline
            assert time.monotonic() - started < 10
    finally:
        server.server_close()
