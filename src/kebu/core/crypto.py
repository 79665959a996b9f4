"""Keys and ciphers for personal data at rest.

The keyring lives outside the database: ``KEBU_DATA_DIR/keys/keyring.json`` (created on first use,
mode 0600) or the ``KEBU_KEYRING`` environment variable holding the same JSON. It holds

- data keys (AES-256-GCM), one of them active for new writes; older ones still decrypt until
  ``kebu keys rotate`` has moved every value onto the active key;
- one MAC secret from which purpose-bound HMAC keys are derived (HKDF): blind indexes for exact
  search, the audit log's hash chain. It is never rotated: every lookup column and the whole audit
  chain are computed from it.

A ciphertext reads ``kebu1$<key id>$<base64url(nonce || ciphertext || tag)>``; the column it belongs
to is bound in as associated data, so a value copied into another column does not decrypt.

The database remembers a check value for each key it has seen (``core.EncryptionKey``);
:func:`keyring_check` compares them at start, so a lost or wrong keyring stops the app with a clear
message instead of failing on the first customer page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

logger = logging.getLogger(__name__)

PREFIX = "kebu1"
NONCE_BYTES = 12
RELOAD_EVERY_SECONDS = 5.0
_CHECK_MESSAGE = b"kebu key check v1"


class KeyringError(ImproperlyConfigured):
    """The keys cannot decrypt this database's data. The message tells the operator what to do."""


class UnknownKey(KeyringError):
    """A value is encrypted with a key this keyring does not hold."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unb64(text: str) -> bytes:
    # base64.urlsafe_b64decode, without its checks and wrappers: it runs once for each value read.
    raw = text.encode("ascii").translate(_FROM_URLSAFE)
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))


@dataclass
class Keyring:
    data_keys: dict[str, bytes]
    active: str
    mac_secret: bytes
    source: str
    _aeads: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _mac_keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    # --- encryption -----------------------------------------------------------------------------------
    def _aead(self, key_id: str) -> AESGCM:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = self._aeads[key_id] = AESGCM(self.data_keys[key_id])
        return aead

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead(self.active).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{PREFIX}${self.active}${_b64(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id, body = _token_parts(token)
        if key_id not in self.data_keys:
            raise UnknownKey(
                f"A value in {context} is encrypted with key {key_id!r}, which is not in the keyring "
                f"({self.source}). Restore the keys folder from the backup taken with this database."
            )
        raw = _unb64(body)
        try:
            plain = self._aead(key_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag as exc:
            raise KeyringError(
                f"A value in {context} does not decrypt with key {key_id!r} from {self.source}: the key "
                "is not the one this database was written with, or the value was altered."
            ) from exc
        return plain.decode("utf-8")

    # --- keyed digests ----------------------------------------------------------------------------------
    def mac_key(self, purpose: str) -> bytes:
        key = self._mac_keys.get(purpose)
        if key is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"kebu:{purpose}".encode())
            key = self._mac_keys[purpose] = hkdf.derive(self.mac_secret)
        return key

    def mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.digest(self.mac_key(purpose), data, "sha256")  # one call into OpenSSL

    def check_value(self, key_id: str) -> str:
        """What the database stores to recognise a key without holding it."""
        secret = self.mac_secret if key_id == MAC_KEY_ID else self.data_keys[key_id]
        return hmac.new(secret, _CHECK_MESSAGE, hashlib.sha256).hexdigest()[:32]

    # --- serialisation ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active,
                "data_keys": {kid: _b64(key) for kid, key in self.data_keys.items()},
                "mac_secret": _b64(self.mac_secret),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Keyring:
        try:
            doc = json.loads(text)
            keys = {kid: _unb64(value) for kid, value in doc["data_keys"].items()}
            ring = cls(
                data_keys=keys, active=doc["active"], mac_secret=_unb64(doc["mac_secret"]), source=source
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"The keyring at {source} is not readable: {exc}") from exc
        if ring.active not in keys or any(len(k) != 32 for k in keys.values()) or len(ring.mac_secret) < 32:
            raise KeyringError(
                f"The keyring at {source} is incomplete: its active key or key sizes are wrong."
            )
        return ring


MAC_KEY_ID = "mac"


def key_id_of(token: str) -> str:
    return _token_parts(token)[0]


def _token_parts(token: str) -> tuple[str, str]:
    """A ciphertext's key id and its base64 body."""
    parts = token.split("$", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise KeyringError("A column that should hold encrypted data holds plain text.")
    return parts[1], parts[2]


def new_key_id() -> str:
    # Sortable by creation, short enough to repeat in every ciphertext.
    return f"k{int(time.time()):x}{secrets.token_hex(2)}"


def keyring_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "keyring.json"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_lock = threading.Lock()
_cached: tuple[Keyring, float, float] | None = None  # (keyring, file mtime, last stat time)


def _load() -> tuple[Keyring, float]:
    env = os.environ.get("KEBU_KEYRING")
    if env:
        return Keyring.from_json(env, source="the KEBU_KEYRING environment variable"), 0.0
    path = keyring_path()
    if not path.exists():
        fresh = Keyring(
            data_keys={(kid := new_key_id()): secrets.token_bytes(32)},
            active=kid,
            mac_secret=secrets.token_bytes(32),
            source=str(path),
        )
        # O_EXCL: two processes starting at once must not each write a different keyring.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(fresh.to_json())
    return Keyring.from_json(path.read_text(), source=str(path)), path.stat().st_mtime


def keyring() -> Keyring:
    """The current keyring. Re-read when the file changes, so ``kebu keys rotate`` in another
    process reaches running servers within a few seconds."""
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now - cached[2] < RELOAD_EVERY_SECONDS:
        return cached[0]
    with _lock:
        if cached is not None and not os.environ.get("KEBU_KEYRING"):
            try:
                mtime = keyring_path().stat().st_mtime
            except FileNotFoundError:
                # Gone while running (a remount, a mistaken delete): keep the keys in memory rather than
                # make new ones nobody recorded; the next start stops with a clear message instead.
                logger.error(
                    "The keyring %s disappeared; serving on with the keys already loaded.", keyring_path()
                )
                mtime = cached[1]
            if mtime == cached[1]:
                _cached = (cached[0], cached[1], now)
                return cached[0]
        ring, mtime = _load()
        _cached = (ring, mtime, now)
        return ring


def keyring_reset() -> None:
    """Forget the cached keyring (tests, and after this process rewrote the file)."""
    global _cached
    with _lock:
        _cached = None


def keyring_add_key() -> str:
    """Add a new data key and make it the active one. Returns its id."""
    if os.environ.get("KEBU_KEYRING"):
        raise KeyringError(
            "The keyring comes from KEBU_KEYRING: add the new key there (kebu keys new prints one), "
            "then run kebu keys rotate."
        )
    ring = keyring()
    key_id = new_key_id()
    updated = Keyring(
        data_keys={**ring.data_keys, key_id: secrets.token_bytes(32)},
        active=key_id,
        mac_secret=ring.mac_secret,
        source=ring.source,
    )
    _write_private(keyring_path(), updated.to_json())
    keyring_reset()
    return key_id


def encrypt(plaintext: str, *, context: str) -> str:
    return keyring().encrypt(plaintext, context=context)


def decrypt(token: str, *, context: str) -> str:
    try:
        return keyring().decrypt(token, context=context)
    except UnknownKey:
        keyring_reset()  # a rotation elsewhere may have added the key a moment ago
        return keyring().decrypt(token, context=context)


def blind_index(purpose: str, value: str) -> str:
    """A keyed digest of ``value`` for equality search: equal inputs give equal outputs, and without
    the key nobody can test a guess against the column (unlike a plain hash of a phone number)."""
    return keyring().mac(f"index:{purpose}", value.encode("utf-8")).hex()[:32]


def keyring_check(*, register: bool = True) -> None:
    """Stop with :class:`KeyringError` unless the keyring holds every key this database was written with.

    Keys the database has not seen yet are recorded (first start, or after ``kebu keys new``)."""
    from django.db import DatabaseError

    from kebu.core.models import EncryptionKey

    ring = keyring()
    try:
        known = {row.key_id: row.check_value for row in EncryptionKey.objects.all()}
    except DatabaseError:
        return  # not migrated yet: nothing is encrypted yet either
    missing = sorted(k for k in known if k != MAC_KEY_ID and k not in ring.data_keys)
    if missing:
        raise KeyringError(
            f"This database holds data encrypted with key {', '.join(missing)}, which is missing from the "
            f"keyring ({ring.source}). Restore the keys folder (or KEBU_KEYRING) from the backup "
            "taken with this database; Kebu will not start without it."
        )
    for key_id, check in known.items():
        if not hmac.compare_digest(check, ring.check_value(key_id)):
            what = "search-index secret" if key_id == MAC_KEY_ID else f"key {key_id!r}"
            raise KeyringError(
                f"The {what} in the keyring ({ring.source}) is not the one this database was written "
                "with. Restore the keys folder (or KEBU_KEYRING) that belongs to this database."
            )
    if register:
        for key_id in [MAC_KEY_ID, *ring.data_keys]:
            if key_id not in known:
                EncryptionKey.objects.get_or_create(
                    key_id=key_id,
                    defaults={"check_value": ring.check_value(key_id), "created_at": timezone.now()},
                )


def context_of(model: Any, field_name: str) -> str:
    return f"{model._meta.label_lower}.{field_name}"
