"""TLS verification and SSH host-key checking are never switched off in the product (issue #9).

Two checks. The product's source (not tests/) is scanned for the ways Python code turns verification
off, and the test fails naming file and line. And a real `rostersync sync` process is pointed at an
HTTPS API base URL on loopback whose certificate is self-signed: it must refuse it with a clear error,
send nothing (the server never sees a request, so never the token), and leave the directory untouched.
The same server is then trusted the supported way (REQUESTS_CA_BUNDLE naming its certificate) and the
sync goes through, which shows that the certificate was the only thing refused.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import tokenize
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from sync.sandbox import clever_server
from sync.sandbox.clever_json import to_clever
from sync.synthetic import generate_district

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("connectors", "sync", "directory", "messaging")
ROSTERSYNC = Path(sys.executable).parent / "rostersync"
TOKEN = "tls-test-token-4e8c1a90b2"

# What turns verification off: requests/httpx (verify=False, session.verify = False), ssl (CERT_NONE,
# check_hostname = False, the unverified context), urllib3's warning switch that goes with verify=False,
# and paramiko's policies that accept an unknown host key.
UNSAFE = {
    "verify=False": re.compile(r"\bverify\s*=\s*False\b"),
    "CERT_NONE": re.compile(r"\bCERT_NONE\b"),
    "check_hostname = False": re.compile(r"\bcheck_hostname\s*=\s*False\b"),
    "_create_unverified_context": re.compile(r"_create_unverified_context"),
    "disable_warnings": re.compile(r"\bdisable_warnings\s*\("),
    "AutoAddPolicy": re.compile(r"\bAutoAddPolicy\b"),
    "WarningPolicy": re.compile(r"\bWarningPolicy\b"),
}


def code_only(source: str) -> str:
    """The source with its comments blanked out, line and column positions kept."""
    lines = source.splitlines(keepends=True)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            (row, start), (_, end) = token.start, token.end
            lines[row - 1] = lines[row - 1][:start] + " " * (end - start) + lines[row - 1][end:]
    return "".join(lines)


def unsafe_lines(path: Path, root: Path) -> list[str]:
    """"file:line: what" for every use of UNSAFE in the code of ``path`` (a call split over lines too)."""
    code = code_only(path.read_text(encoding="utf-8"))
    found = [(code.count("\n", 0, match.start()) + 1, what)
             for what, pattern in UNSAFE.items() for match in pattern.finditer(code)]
    return [f"{path.relative_to(root)}:{line}: {what}" for line, what in sorted(found)]


def test_the_scan_finds_what_it_looks_for(tmp_path):
    planted = tmp_path / "pkg" / "client.py"
    planted.parent.mkdir()
    planted.write_text("import requests, ssl, paramiko\n"
                       "# verify=False in a comment is not code\n"
                       "requests.get(url, verify=False)\n"
                       "ctx = ssl.create_default_context()\n"
                       "ctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\n"
                       "client.set_missing_host_key_policy(paramiko.AutoAddPolicy())\n"
                       "session.get(url, verify =\n            False)\n", encoding="utf-8")
    assert unsafe_lines(planted, tmp_path) == [
        "pkg/client.py:3: verify=False", "pkg/client.py:5: check_hostname = False", "pkg/client.py:6: CERT_NONE",
        "pkg/client.py:7: AutoAddPolicy", "pkg/client.py:8: verify=False"]  # line 2 is a comment, line 8-9 one call


def test_no_product_code_turns_verification_off():
    files = [p for folder in PRODUCT for p in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 50  # the scan really looked at the product
    found = [f for p in files for f in unsafe_lines(p, REPO)]
    assert found == [], "verification switched off in product code:\n" + "\n".join(found)


# -- a self-signed HTTPS API on loopback ------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class HttpsClever(clever_server.CleverServer):
    """The Clever fake, served over TLS with the given certificate."""

    def __init__(self, data, token, cert: Path, key: Path):
        super().__init__(data, token)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)

    def start(self) -> "HttpsClever":
        handler = type("Handler", (clever_server._Handler,), {"clever": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = self.context.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"


@pytest.fixture
def https_clever(tmp_path):
    cert, key = self_signed(tmp_path)
    server = HttpsClever(to_clever(generate_district(12, seed=2)), TOKEN, cert, key).start()
    server.cert = cert
    yield server
    server.stop()


@pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")
def test_a_self_signed_api_certificate_is_refused_by_a_real_process(cli, db_url, https_clever):
    cli("district", "add", "tls", "--name", "TLS USD", "--source", "clever", "--clever-token-env", "TLS_TOKEN",
        "--clever-base-url", https_clever.url)
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    out = subprocess.run([str(ROSTERSYNC), "--db", db_url, "sync", "tls", "--json"], capture_output=True, text=True,
                         timeout=60, env={**env, "TLS_TOKEN": TOKEN})
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    [error] = report["errors"]
    assert report["status"] == "failed" and error["code"] == "api_bad_response"
    assert "TLS certificate is not trusted (self-signed certificate)" in error["message"], error
    assert "not retried" in error["message"] and TOKEN not in out.stdout + out.stderr
    assert https_clever.log == []  # no request got through the handshake: the token never left
    assert cli.json("directory", "export", "tls", "--format", "json")["students"] == []

    # Trusting that certificate (the supported way, for a district behind a private CA) lets the same
    # sync through: what was refused was the certificate, nothing else.
    result = cli("sync", "tls", "--json", env={"TLS_TOKEN": TOKEN, "REQUESTS_CA_BUNDLE": str(https_clever.cert)})
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert len(cli.json("directory", "export", "tls", "--format", "json")["students"]) == 12
