"""A webhook receiver for the rules tests: every request it gets is appended to FILE as one
JSON line ({"method", "path", "query", "headers", "body"}; the query parsed) and answered 200, but for `/token` (an
OAuth client-credentials token endpoint) and `/reject` (400, which EventBridge does not
retry).

    python webhook_receiver.py PORT FILE
"""

import json
import sys
from urllib.parse import parse_qs, urlsplit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, FILE = int(sys.argv[1]), sys.argv[2]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length).decode()
        url = urlsplit(self.path)
        line = json.dumps({"method": "POST", "path": url.path, "query": parse_qs(url.query),
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": body})
        with open(FILE, "a") as out:
            out.write(line + "\n")
        # /token is an OAuth token endpoint (client credentials); /reject refuses for good.
        status, answer = 200, b"{}"
        if url.path == "/token":
            answer = json.dumps({"access_token": "token-123", "token_type": "Bearer",
                                 "expires_in": 3600}).encode()
        elif url.path == "/reject":
            status = 400
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
