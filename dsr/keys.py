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
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


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


@dataclass(frozen=True)
class KeyRing:
    keys_dir: Path

    @cached_property
    def hash_key(self) -> bytes:
        env = os.environ.get("DSR_HASH_KEY")
        if env:
            return bytes.fromhex(env)
        return bytes.fromhex(
            _load_or_create(self.keys_dir / "hash.key", secrets.token_hex(32).encode()).decode()
        )

    @cached_property
    def fernet(self) -> Fernet:
        env = os.environ.get("DSR_DATA_KEY")
        key = (
            env.encode()
            if env
            else _load_or_create(self.keys_dir / "data.key", Fernet.generate_key())
        )
        return Fernet(key)

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        env = os.environ.get("DSR_SIGNING_KEY")
        if env:
            pem = Path(env).read_bytes() if not env.lstrip().startswith("-----") else env.encode()
        else:
            fresh = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            pem = _load_or_create(self.keys_dir / "signing.pem", fresh)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("DSR_SIGNING_KEY is not an Ed25519 private key")
        return key

    def public_key_pem(self) -> str:
        return (
            self.signing_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def keyed_hash(self, kind: str, value: str) -> str:
        """HMAC-SHA256 of a normalised identity (hex): no key, no reversal."""
        mac = hmac.HMAC(self.hash_key, hashes.SHA256())
        mac.update(f"{kind}\x1f{value}".encode())
        return mac.finalize().hex()

    def encrypt(self, data: bytes) -> bytes:
        return self.fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self.fernet.decrypt(token)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.signing_key.sign(data)).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
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
