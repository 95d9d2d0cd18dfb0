"""Email over a real TLS SMTP server on loopback: STARTTLS with login, implicit TLS (smtps://), and a
refused login that never leaks the password. The server's certificate is made here and trusted through
SSL_CERT_FILE, as a deployment with a private CA would do; verification itself is never turned off."""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messaging.config import parse_smtp_url
from messaging.delivery_log import DeliveryLog
from messaging.smtp_transport import SmtpTransport
from messaging.transport import OutgoingMessage, TransportDown
from smtp_peer import SmtpPeer, free_port

USER, PASSWORD = "relay", "s3cret-smtp-pass"


@pytest.fixture
def certificate(tmp_path, monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts this CA, and only through the store
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    # An explicit 535: aiosmtpd 1.4 leaves a failed AUTH unanswered when the result carries no message.
    return AuthResult(success=True) if ok else AuthResult(success=False, handled=False,
                                                          message="535 5.7.8 Authentication credentials invalid")


@pytest.fixture
def tls_server(certificate):
    servers = []

    def start(implicit: bool):
        peer = SmtpPeer()
        port = free_port()
        if implicit:
            controller = Controller(peer, hostname="127.0.0.1", port=port, ssl_context=certificate,
                                    authenticator=authenticator, auth_require_tls=False,
                                    auth_exclude_mechanism=["LOGIN"])
        else:
            controller = Controller(peer, hostname="127.0.0.1", port=port, tls_context=certificate,
                                    require_starttls=True, authenticator=authenticator, auth_require_tls=True,
                                    auth_exclude_mechanism=["LOGIN"])  # one mechanism: one clear answer
        controller.start()
        servers.append(controller)
        return peer, port

    yield start
    for controller in servers:
        controller.stop()


def message(key: str) -> OutgoingMessage:
    return OutgoingMessage(key=key, channel="email", to="parent@example.org", subject="Join us", text="Code ABCD")


@pytest.mark.parametrize("scheme,implicit", [("smtp", False), ("smtps", True)])
def test_mail_goes_over_tls_with_login(tls_server, tmp_path, scheme, implicit):
    peer, port = tls_server(implicit)
    settings = parse_smtp_url(f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}")
    transport = SmtpTransport(settings, "school@example.org", DeliveryLog(tmp_path / "delivery.log"))
    try:
        outcome, _ = transport.send(message("rs-tls-1"))
        outcome2, _ = transport.send(message("rs-tls-2"))  # the same connection serves the batch
    finally:
        transport.close()
    assert outcome.kind == outcome2.kind == "accepted"
    assert [r.to for r in peer.received] == [["parent@example.org"]] * 2
    assert "Code ABCD" in peer.received[0].text


def test_a_wrong_password_is_refused_and_never_shown(tls_server, tmp_path):
    peer, port = tls_server(False)
    settings = parse_smtp_url(f"smtp://{USER}:not-the-password-99@127.0.0.1:{port}")
    transport = SmtpTransport(settings, "school@example.org", DeliveryLog(tmp_path / "delivery.log"))
    with pytest.raises(TransportDown) as exc:
        transport.send(message("rs-tls-3"))
    transport.close()
    assert "refused the login" in str(exc.value) and "not-the-password-99" not in str(exc.value)
    assert peer.received == []


def test_an_untrusted_certificate_is_refused(tls_server, tmp_path, monkeypatch):
    peer, port = tls_server(False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing-trusted.pem"))
    settings = parse_smtp_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
    transport = SmtpTransport(settings, "school@example.org", DeliveryLog(tmp_path / "delivery.log"))
    with pytest.raises(TransportDown):
        transport.send(message("rs-tls-4"))
    transport.close()
    assert peer.received == []
