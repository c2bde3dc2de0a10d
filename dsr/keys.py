"""The three secrets the system holds, generated on first use under the keys folder.

- the *hash key*: HMAC-SHA256 key for keyed identity hashes (ledger, audit log, metadata), so a
  hash cannot be reversed by hashing a dictionary of e-mail addresses without the key;
- the *data key*: Fernet key encrypting the identities a request needs while it is open, and the
  staged findings between Dagster steps;
- the *signing key*: Ed25519 key signing bundle manifests and deletion proofs.

Each can come from the environment instead (``DSR_HASH_KEY`` hex, ``DSR_DATA_KEY`` Fernet
base64, ``DSR_SIGNING_KEY`` PEM text or a path to a PEM file), which is how production passes them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

# cryptography is imported where a key is used: a command that only reads starts without it.
if TYPE_CHECKING:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _load_or_create(path: Path, make: bytes) -> bytes:
    if not path.exists():
        # Another process may make it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            _write_secret(path, make)
    return path.read_bytes()


MIN_HASH_KEY_BYTES = 16


def _hash_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{where} is not hexadecimal: give 64 hex digits (32 bytes)") from None
    if len(key) < MIN_HASH_KEY_BYTES:
        raise ValueError(
            f"{where} is {len(key)} bytes: a hash key needs at least {MIN_HASH_KEY_BYTES} "
            "(64 hex digits make 32)"
        )
    return key


def _fernet_shape(key: bytes, where: str) -> None:
    """What ``_fernet`` would refuse, checked without cryptography (at every command's start)."""
    try:
        ok = len(base64.urlsafe_b64decode(key.strip())) == 32
    except ValueError:
        ok = False
    if not ok:
        _fernet(key, where)  # says why, in the same words


def _pem_shape(pem: bytes, where: str) -> None:
    if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem:
        raise ValueError(f"{where} is not an unencrypted PEM private key")


def _fernet(key: bytes, where: str) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key.strip())
    except (ValueError, TypeError):
        raise ValueError(
            f"{where} is not a Fernet key (32 url-safe base64-encoded bytes): make one with "
            "cryptography.fernet.Fernet.generate_key()"
        ) from None


def _signing_pem(env: str) -> bytes:
    """DSR_SIGNING_KEY's PEM: the text itself, or the file it names."""
    if env.lstrip().startswith("-----"):
        return env.encode()
    path = Path(env).expanduser()
    if not path.is_file():
        raise ValueError(
            f"DSR_SIGNING_KEY is neither PEM text nor the path of a file: no such file {path}"
        )
    return path.read_bytes()


def _private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(f"{where} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{where} is not an Ed25519 private key")
    return key


def check_key_settings(keys_dir: Path) -> None:
    """Refuse (ValueError naming the variable or file) a key that is set or stored but unusable.

    Reads only: a key that does not exist yet is made on first use, not here."""
    if env := os.environ.get("DSR_HASH_KEY"):
        _hash_key(env, "DSR_HASH_KEY")
    elif (keys_dir / "hash.key").is_file():
        _hash_key((keys_dir / "hash.key").read_text(), str(keys_dir / "hash.key"))
    if env := os.environ.get("DSR_DATA_KEY"):
        _fernet_shape(env.encode(), "DSR_DATA_KEY")
    elif (keys_dir / "data.key").is_file():
        _fernet_shape((keys_dir / "data.key").read_bytes(), str(keys_dir / "data.key"))
    if env := os.environ.get("DSR_SIGNING_KEY"):
        # A key the operator set is parsed in full (~40 ms): a broken one is refused up front.
        _private_key(_signing_pem(env), "DSR_SIGNING_KEY")
    elif (keys_dir / "signing.pem").is_file():
        _pem_shape((keys_dir / "signing.pem").read_bytes(), str(keys_dir / "signing.pem"))


def signing_key_source(keys_dir: Path) -> str:
    """Where the signing key comes from, in words for a message."""
    env = os.environ.get("DSR_SIGNING_KEY")
    if env:
        return "DSR_SIGNING_KEY" if env.lstrip().startswith("-----") else f"DSR_SIGNING_KEY ({env})"
    return str(keys_dir / "signing.pem")


def signing_key_exists(keys_dir: Path) -> bool:
    return bool(os.environ.get("DSR_SIGNING_KEY")) or (keys_dir / "signing.pem").is_file()


@dataclass(frozen=True)
class KeyRing:
    keys_dir: Path

    @cached_property
    def hash_key(self) -> bytes:
        env = os.environ.get("DSR_HASH_KEY")
        if env:
            return _hash_key(env, "DSR_HASH_KEY")
        path = self.keys_dir / "hash.key"
        return _hash_key(_load_or_create(path, secrets.token_hex(32).encode()).decode(), str(path))

    @cached_property
    def fernet(self) -> Fernet:
        env = os.environ.get("DSR_DATA_KEY")
        if env:
            return _fernet(env.encode(), "DSR_DATA_KEY")
        from cryptography.fernet import Fernet

        path = self.keys_dir / "data.key"
        return _fernet(_load_or_create(path, Fernet.generate_key()), str(path))

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        env = os.environ.get("DSR_SIGNING_KEY")
        if env:
            return _private_key(_signing_pem(env), "DSR_SIGNING_KEY")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        fresh = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.keys_dir / "signing.pem"
        return _private_key(_load_or_create(path, fresh), str(path))

    def public_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return (
            self.signing_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def keyed_hash(self, kind: str, value: str) -> str:
        """HMAC-SHA256 of a normalised identity (hex): no key, no reversal."""
        return hmac.new(self.hash_key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, data: bytes) -> bytes:
        return self.fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self.fernet.decrypt(token)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.signing_key.sign(data)).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify_signature(public_key_pem: str | bytes, data: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    try:
        load_public_key(public_key_pem).verify(base64.b64decode(signature_b64), data)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True
