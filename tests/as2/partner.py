"""An AS2 partner played by pyas2lib (an independent implementation), for tests/gateway/as2.rs.

Builds one message with pyas2lib as the partner configured by the arguments, posts it to the
gateway, and checks the MDN with pyas2lib (signature with our certificate, MIC against the one it
computed when signing). Prints one JSON line: the HTTP status, the MDN's status and detail.

  python3 partner.py --url URL --payload FILE --partner-key PEM --our-cert PEM
      [--sign sha256] [--encrypt aes_256_cbc] [--compress] [--mdn sync|async|none] [--signed-mdn]
      [--message-id ID] [--as2-from ID] [--as2-to ID] [--tamper payload|cipher]

With --batch, messages are read from standard input instead, one JSON object per line with the same
names (payload, sign, encrypt, compress, mdn, signed_mdn, message_id, as2_from, as2_to, tamper), and
one JSON line is printed per message: pyas2lib is loaded once. A message with "out": PATH is built
but not sent: PATH.headers.json and PATH.body are written (for benchmarks).
"""

import argparse
import http.server
import json
import ssl
import sys
import threading
import urllib.error
import urllib.request

from pyas2lib import Message, Mdn, Organization, Partner


def send(url, key, ours, o, ca=None):
    """Builds, posts and checks one message; returns what happened."""
    payload = open(o["payload"], "rb").read()
    mdn_mode = o.get("mdn", "sync")
    mdn_server = None
    received = {}
    done = threading.Event()
    mdn_url = None
    if mdn_mode == "async":

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                head = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()).encode()
                received["raw"] = head + b"\r\n" + body
                self.send_response(200)
                self.end_headers()
                done.set()

            def log_message(self, *_):
                pass

        mdn_server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=mdn_server.serve_forever, daemon=True).start()
        mdn_url = f"http://127.0.0.1:{mdn_server.server_port}/mdn"

    sign = o.get("sign")
    org = Organization(as2_name=o.get("as2_from", "globex"), sign_key=key, sign_key_pass=None, mdn_url=mdn_url)
    partner = Partner(
        as2_name=o.get("as2_to", "edigate"),
        verify_cert=ours,
        encrypt_cert=ours,
        validate_certs=False,
        sign=bool(sign),
        digest_alg=sign or "sha256",
        encrypt=bool(o.get("encrypt")),
        enc_alg=o.get("encrypt") or "aes_256_cbc",
        compress=bool(o.get("compress")),
        mdn_mode=None if mdn_mode == "none" else mdn_mode.upper(),
        mdn_digest_alg=(sign or "sha256") if o.get("signed_mdn") else None,
    )
    msg = Message(sender=org, receiver=partner)
    msg.build(payload, filename="payload.edi", content_type=o.get("content_type", "application/edi-x12"), message_id=o.get("message_id"))
    body = msg.content
    if o.get("tamper") == "payload":
        assert b"BSN|" in body, "tamper=payload needs a signed, unencrypted 856 (Globex sample)"
        body = body.replace(b"BSN|", b"BSX|", 1)
    elif o.get("tamper") == "cipher":
        body = bytearray(body)
        body[-5] ^= 0x01
        body = bytes(body)

    if o.get("out"):
        # Built, not sent (benchmarks post them themselves): headers as JSON, body as bytes.
        with open(o["out"] + ".headers.json", "w") as f:
            json.dump(dict(msg.headers.items()), f)
        with open(o["out"] + ".body", "wb") as f:
            f.write(body)
        return {"built": o["out"], "mic": msg.mic.decode() if msg.mic else None}

    req = urllib.request.Request(url, data=body, method="POST")
    for k, v in msg.headers.items():
        req.add_header(k, v)
    try:
        context = ssl.create_default_context(cafile=ca) if ca else None
        with urllib.request.urlopen(req, timeout=60, context=context) as r:
            status, rbody, rheaders = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, rbody, rheaders = e.code, e.read(), e.headers
    out = {"http": status, "message_id": msg.message_id, "mic": msg.mic.decode() if msg.mic else None}
    if status == 200 and mdn_mode != "none":
        if mdn_mode == "async":
            done.wait(30)
            raw = received.get("raw")
            out["sync_body"] = len(rbody)
        else:
            head = "".join(f"{k}: {v}\r\n" for k, v in rheaders.items()).encode()
            raw = head + b"\r\n" + rbody
        if raw:
            st, detail = Mdn().parse(raw, lambda mid, rcpt: msg)
            out.update({"mdn_status": st, "mdn_detail": detail, "mdn_signed": b"multipart/signed" in raw[:4000]})
        else:
            out["mdn_status"] = None
    else:
        out["body"] = rbody.decode("utf-8", "replace")[:500]
    if mdn_server:
        mdn_server.shutdown()
    return out


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--url", required=True)
    a.add_argument("--partner-key", required=True, help="PEM with the partner's key and certificate")
    a.add_argument("--our-cert", required=True, help="the gateway's certificate (PEM)")
    a.add_argument("--batch", action="store_true")
    a.add_argument("--ca", default=None, help="trust this CA (PEM) for an https:// URL")
    a.add_argument("--payload")
    a.add_argument("--sign", default=None)
    a.add_argument("--encrypt", default=None)
    a.add_argument("--compress", action="store_true")
    a.add_argument("--mdn", default="sync", choices=["sync", "async", "none"])
    a.add_argument("--signed-mdn", action="store_true")
    a.add_argument("--message-id", default=None)
    a.add_argument("--as2-from", default="globex")
    a.add_argument("--as2-to", default="edigate")
    a.add_argument("--tamper", choices=["payload", "cipher"], default=None)
    args = a.parse_args()
    key = open(args.partner_key, "rb").read()
    ours = open(args.our_cert, "rb").read()
    if args.batch:
        for line in sys.stdin:
            if line.strip():
                o = json.loads(line)
                try:
                    out = send(args.url, key, ours, o, args.ca)
                except Exception as e:  # reported, not raised: the test shows which message failed
                    out = {"error": repr(e)}
                out["request"] = o
                print(json.dumps(out), flush=True)
        return 0
    o = {k: v for k, v in vars(args).items() if k not in ("url", "partner_key", "our_cert", "batch", "ca")}
    print(json.dumps(send(args.url, key, ours, o, args.ca)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
