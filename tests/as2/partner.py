"""An AS2 partner played by pyas2lib (an independent implementation), for tests/gateway/as2.rs.

Builds one message with pyas2lib as the partner configured by the arguments, posts it to the
gateway, and checks the MDN with pyas2lib (signature with our certificate, MIC against the one it
computed when signing). Prints one JSON line: the HTTP status, the MDN's status and detail.

  python3 partner.py --url URL --payload FILE --partner-key PEM --our-cert PEM
      [--sign sha256] [--encrypt aes_256_cbc] [--compress] [--mdn sync|async|none] [--signed-mdn]
      [--message-id ID] [--as2-from ID] [--as2-to ID] [--tamper]
"""

import argparse
import http.server
import json
import sys
import threading
import urllib.error
import urllib.request

from pyas2lib import Message, Mdn, Organization, Partner


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--url", required=True)
    a.add_argument("--payload", required=True)
    a.add_argument("--partner-key", required=True, help="PEM with the partner's key and certificate")
    a.add_argument("--our-cert", required=True, help="the gateway's certificate (PEM)")
    a.add_argument("--sign", default=None)
    a.add_argument("--encrypt", default=None)
    a.add_argument("--compress", action="store_true")
    a.add_argument("--mdn", default="sync", choices=["sync", "async", "none"])
    a.add_argument("--signed-mdn", action="store_true")
    a.add_argument("--message-id", default=None)
    a.add_argument("--as2-from", default="globex")
    a.add_argument("--as2-to", default="edigate")
    a.add_argument("--tamper", choices=["payload", "cipher"], default=None,
                   help="after building, change the payload's text (signed, not encrypted) or the ciphertext's last block")
    a.add_argument("--content-type", default="application/edi-x12")
    args = a.parse_args()

    key = open(args.partner_key, "rb").read()
    ours = open(args.our_cert, "rb").read()
    payload = open(args.payload, "rb").read()

    mdn_server = None
    received = {}
    if args.mdn == "async":
        done = threading.Event()

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
    else:
        mdn_url = None

    org = Organization(as2_name=args.as2_from, sign_key=key, sign_key_pass=None, mdn_url=mdn_url)
    partner = Partner(
        as2_name=args.as2_to,
        verify_cert=ours,
        encrypt_cert=ours,
        validate_certs=False,
        sign=bool(args.sign),
        digest_alg=args.sign or "sha256",
        encrypt=bool(args.encrypt),
        enc_alg=args.encrypt or "aes_256_cbc",
        compress=args.compress,
        mdn_mode=None if args.mdn == "none" else args.mdn.upper(),
        mdn_digest_alg=(args.sign or "sha256") if args.signed_mdn else None,
    )
    msg = Message(sender=org, receiver=partner)
    msg.build(payload, filename="payload.edi", content_type=args.content_type, message_id=args.message_id)
    body = msg.content
    if args.tamper == "payload":
        assert b"BSN|" in body, "tamper=payload needs a signed, unencrypted 856 (Globex sample)"
        body = body.replace(b"BSN|", b"BSX|", 1)
    elif args.tamper == "cipher":
        body = bytearray(body)
        body[-5] ^= 0x01
        body = bytes(body)

    req = urllib.request.Request(args.url, data=body, method="POST")
    for k, v in msg.headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, rbody, rheaders = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, rbody, rheaders = e.code, e.read(), e.headers
    out = {"http": status, "message_id": msg.message_id, "mic": msg.mic.decode() if msg.mic else None}
    if status == 200 and args.mdn != "none":
        if args.mdn == "async":
            done.wait(15)
            raw = received.get("raw")
        else:
            head = "".join(f"{k}: {v}\r\n" for k, v in rheaders.items()).encode()
            raw = head + b"\r\n" + rbody
        if raw:
            mdn = Mdn()
            st, detail = mdn.parse(raw, lambda mid, rcpt: msg)
            out.update({"mdn_status": st, "mdn_detail": detail, "mdn_signed": b"multipart/signed" in raw[:2000]})
        else:
            out["mdn_status"] = None
    else:
        out["body"] = rbody.decode("utf-8", "replace")[:500]
    if mdn_server:
        mdn_server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
