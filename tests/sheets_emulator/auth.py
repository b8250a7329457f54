"""Service-account credentials for the emulator and its OAuth token endpoint.

One RSA key is generated per emulator. Service-account files written by the emulator carry its
private key and point ``token_uri`` at the emulator, so google-auth signs a JWT assertion, posts
it there and receives a bearer token — the same exchange as with Google, entirely offline.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always signs service-account assertions for Google's own token URI, whatever the
# file's token_uri says; Google's endpoint accepts exactly that audience, and so does this one
# (plus the emulator's own URI, for clients that use token_uri as the audience).
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
WRITE_SCOPES = {"https://www.googleapis.com/auth/spreadsheets",
                "https://www.googleapis.com/auth/drive",
                "https://www.googleapis.com/auth/drive.file"}


class TokenError(Exception):
    """The assertion was refused (OAuth error code and description)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class Token:
    user: str
    scopes: frozenset
    expires: float

    @property
    def can_write(self) -> bool:
        return bool(self.scopes & WRITE_SCOPES)


class KeyPair:
    """The emulator's RSA key and the tokens issued against it."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.private_pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.tokens: dict[str, Token] = {}

    def service_account_info(self, email: str, token_uri: str) -> dict:
        """A service-account JSON document as the Cloud console would hand it out."""
        project = email.split("@", 1)[1].split(".", 1)[0] if "@" in email else "emulator"
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": email,
            "client_id": str(int.from_bytes(email.encode()[:8].ljust(8, b"\0"), "big")),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "",
            "universe_domain": "googleapis.com",
        }

    def write_file(self, path: Path, email: str, token_uri: str) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / "service_account.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.service_account_info(email, token_uri), indent=2))
        return path

    def exchange(self, form: dict[str, str], token_uri: str, lifetime: int = 3600) -> dict:
        """The JWT bearer grant: verify the assertion and issue an access token."""
        if form.get("grant_type") != JWT_BEARER:
            raise TokenError("unsupported_grant_type", "Invalid grant_type: "
                             f"{form.get('grant_type', '')}")
        assertion = form.get("assertion")
        if not assertion:
            raise TokenError("invalid_request", "Missing required parameter: assertion")
        try:
            claims = jwt.decode(assertion, certs=self.public_pem,
                                audience=[GOOGLE_TOKEN_URI, token_uri])
        except ValueError as exc:
            text = str(exc)
            if "audience" in text.lower():
                raise TokenError("invalid_grant", "Invalid JWT: Failed audience check.") from None
            if "expired" in text.lower() or "too early" in text.lower():
                raise TokenError("invalid_grant", "Invalid JWT: Token must be a short-lived "
                                 "token (60 minutes) and in a reasonable timeframe.") from None
            raise TokenError("invalid_grant", "Invalid JWT Signature.") from None
        user = claims.get("iss")
        if not user:
            raise TokenError("invalid_grant", "Invalid JWT: no issuer.")
        token = self.issue(user, (claims.get("scope") or "").split(), lifetime)
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def issue(self, user: str, scopes: Iterable[str], lifetime: int = 3600) -> str:
        """A new bearer token for ``user`` with those scopes, valid for ``lifetime`` seconds."""
        token = "ya29.emu-" + secrets.token_urlsafe(24)
        self.tokens[token] = Token(user, frozenset(scopes), time.time() + lifetime)
        return token

    def user_of(self, header: str | None) -> Token | None:
        """The token behind an ``Authorization: Bearer ...`` header, if valid and unexpired."""
        if not header or not header.startswith("Bearer "):
            return None
        token = self.tokens.get(header[7:].strip())
        if token is None or token.expires < time.time():
            return None
        return token

    def expire_all(self) -> None:
        """Every issued token stops working (clients must fetch a new one)."""
        for tok in self.tokens.values():
            tok.expires = 0.0
