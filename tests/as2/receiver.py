"""An AS2 partner's server played by pyas2lib, for tests/gateway/as2.rs: receives what edigate sends,
checks it with pyas2lib (decryption, signature, MIC), keeps each payload, answers with pyas2lib's
own MDN (signed when asked), and logs one JSON line per message.

  python3 receiver.py --out DIR --key PEM --edigate-cert PEM [--as2-id globex]
      [--tamper-mic] [--status 503]

Prints the port it listens on (127.0.0.1) as its first line.
"""

import argparse
import http.server
import json
import os
import sys
import threading

from pyas2lib import Message, Organization, Partner


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--out", required=True)
    a.add_argument("--key", required=True, help="PEM with this partner's key and certificate")
    a.add_argument("--edigate-cert", required=True)
    a.add_argument("--as2-id", default="globex")
    a.add_argument("--status", type=int, default=None, help="answer every message with this HTTP status")
    a.add_argument("--tamper-mic", action="store_true", help="answer with an MDN whose MIC is wrong")
    a.add_argument("--drop-async-mdn", action="store_true", help="never post asynchronous MDNs")
    args = a.parse_args()
    os.makedirs(args.out, exist_ok=True)
    key = open(args.key, "rb").read()
    ours = open(args.edigate_cert, "rb").read()
    org = Organization(as2_name=args.as2_id, sign_key=key, decrypt_key=key)
    # What arrives is checked as it is (a signature is verified when there is one); nothing is required.
    edigate = Partner(as2_name="edigate", verify_cert=ours, encrypt_cert=ours, validate_certs=False)
    lock = threading.Lock()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if args.status:
                self.send_response(args.status)
                self.end_headers()
                self.wfile.write(b"told to fail")
                return
            raw = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()).encode() + b"\r\n" + body
            msg = Message()
            status, (exc, _tb), mdn = msg.parse(raw, find_org_cb=lambda _: org, find_partner_cb=lambda _: edigate)
            with lock:
                count[0] += 1
                n = count[0]
                path = os.path.join(args.out, f"{n}.edi")
                if status == "processed":
                    with open(path, "wb") as f:
                        f.write(msg.content)
                with open(os.path.join(args.out, "log.jsonl"), "a") as f:
                    f.write(json.dumps({
                        "n": n,
                        "status": status,
                        "error": repr(exc) if exc else None,
                        "signed": msg.signed,
                        "encrypted": msg.encrypted,
                        "compressed": msg.compressed,
                        "digest_alg": msg.digest_alg,
                        "enc_alg": msg.enc_alg,
                        "message_id": msg.message_id,
                        "payload": path if status == "processed" else None,
                        "mdn": bool(mdn),
                    }) + "\n")
            if mdn and mdn.mdn_mode == "ASYNC":
                # Answer now, post the MDN where the message asked, a moment later.
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

                def post(url=mdn.mdn_url, headers=dict(mdn.headers), content=mdn.content):
                    import time
                    import urllib.request
                    time.sleep(0.2)
                    req = urllib.request.Request(url, data=content, method="POST")
                    for k, v in headers.items():
                        req.add_header(k, v)
                    try:
                        urllib.request.urlopen(req, timeout=30).read()
                    except Exception as e:  # the test sees the missing MDN
                        print(f"async MDN not delivered: {e}", file=sys.stderr)

                if not args.drop_async_mdn:
                    threading.Thread(target=post, daemon=True).start()
            elif mdn:
                content = mdn.content
                if args.tamper_mic:
                    import re
                    content = re.sub(rb"(?i)(Received-Content-MIC: )[^,\r\n]+", rb"\1AAAA", content)
                self.send_response(200)
                for k, v in mdn.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            else:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
