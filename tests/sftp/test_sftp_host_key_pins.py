"""Host key pins as a district hands them over: key lines and SHA256 fingerprints (pure, no server)."""

from __future__ import annotations

import base64

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.sftp.drops import DropConfigError
from connectors.sftp.hostkeys import (
    HostKeyPin,
    parse_pins,
    preferred_host_key_types,
    sha256_fingerprint,
)
from connectors.sftp.transport import SftpSettings


class Key:
    """A fresh ed25519 public key: its known_hosts line, blob and fingerprint as OpenSSH prints it."""

    def __init__(self):
        public = Ed25519PrivateKey.generate().public_key()
        self.line = public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " sftp.district.example"
        self.blob = base64.b64decode(self.line.split()[1])
        # paramiko's fingerprint, not ours: the test compares two implementations
        self.fingerprint = paramiko.PKey.from_type_string("ssh-ed25519", self.blob).fingerprint


@pytest.fixture
def key():
    return Key()


def test_fingerprint_is_the_one_openssh_and_paramiko_print(key):
    assert sha256_fingerprint(key.blob) == key.fingerprint
    assert key.fingerprint.startswith("SHA256:") and len(key.fingerprint) == 7 + 43


@pytest.mark.parametrize("shape", ["pub", "known_hosts", "known_hosts_port", "bare_fp", "keygen"])
def test_every_shape_a_district_sends_pins_the_same_key(key, shape):
    line, fp = key.line, key.fingerprint
    text = {
        "pub": line,
        "known_hosts": f"sftp.district.example {line}",
        "known_hosts_port": f"[sftp.district.example]:2222 {line}",
        "bare_fp": fp,
        "keygen": f"256 {fp} root@sftp (ED25519)",  # what `ssh-keygen -lf key.pub` prints
    }[shape]
    (pin,) = parse_pins(text)
    assert pin.fingerprint == fp
    assert pin.matches("ssh-ed25519", key.blob)
    assert pin.key_type in ("ssh-ed25519", None)


def test_a_pin_does_not_match_another_key(key):
    (pin,) = parse_pins(key.line)
    assert not pin.matches("ssh-ed25519", Key().blob)


def test_several_pins_one_per_line_for_key_rotation(key):
    new = Key()
    pins = parse_pins(f"# old key\n{key.fingerprint}\n\n# new key\n{new.line}\n")
    assert len(pins) == 2
    assert any(p.matches("ssh-ed25519", new.blob) for p in pins)
    assert any(p.matches("ssh-ed25519", key.blob) for p in pins)


@pytest.mark.parametrize("text, says", [
    ("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "MD5"),
    ("16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "MD5"),
    ("SHA256:tooshort", "43 base64"),
    ("ssh-ed25519 not-base64", "not a public key line"),
    ("@cert-authority *.example ssh-ed25519 AAAA", "not supported"),
])
def test_unusable_pins_are_refused_with_a_reason(text, says):
    with pytest.raises(ValueError, match=says):
        parse_pins(text)


def test_a_key_line_whose_type_disagrees_with_its_blob_is_refused(key):
    with pytest.raises(ValueError):
        parse_pins(f"ssh-rsa {key.line.split()[1]}")


def test_a_bad_pin_is_refused_when_the_settings_are_made():
    with pytest.raises(DropConfigError, match="host key line 1") as info:
        SftpSettings(host="sftp.example", user="roster", password="pw", host_key="SHA256:nope")
    assert "roster@sftp.example:22" in str(info.value)


def test_pinned_key_types_are_negotiated_first():
    assert preferred_host_key_types((HostKeyPin("SHA256:x", "ssh-rsa"), HostKeyPin("SHA256:y", None),
                                     HostKeyPin("SHA256:z", "ssh-ed25519"))) == [
        "rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"]


def test_settings_never_show_secrets_in_repr():
    settings = SftpSettings(host="sftp.example", user="roster", password="hunter2-secret",
                            key_path="/k", key_passphrase="pass-phrase-secret")
    assert "hunter2-secret" not in repr(settings)
    assert "pass-phrase-secret" not in repr(settings)
