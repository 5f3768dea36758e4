"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the digest tests: plain, STARTTLS, implicit TLS, AUTH.

Usage::

    from fakes.smtp_server import SmtpFake, self_signed_cert

    cert = self_signed_cert(tmp_path)                     # CertFiles(cert, key); trust it with SSL_CERT_FILE=cert.cert
    with SmtpFake(security="starttls", cert=cert, users={"bot": "s3cret"}, refuse={"nobody@example.org": 550}) as smtp:
        env: LFMWATCH_SMTP_HOST=127.0.0.1, LFMWATCH_SMTP_PORT=smtp.port, SSL_CERT_FILE=cert.cert
        smtp.fail_data("451 4.3.0 try again later", times=2)    # the next DATA commands fail
        ... send ...
        smtp.messages      # [Received(mail_from, rcpt_tos, data bytes, tls, auth_user)], in order
        smtp.auth_failures # logins refused

`security`: "none" (plain, AUTH allowed without TLS only when `auth_require_tls=False`), "starttls", "tls".
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CertFiles:
    """PEM files of a self-signed certificate for 127.0.0.1/localhost."""

    cert: Path
    key: Path


def self_signed_cert(directory: Path) -> CertFiles:
    """Generate a self-signed CA-flagged certificate (SAN 127.0.0.1 and localhost) with `cryptography`.

    `cryptography` comes with PyGithub (pyjwt[crypto]); without it, the `openssl` command line is used.
    """
    import ipaddress

    try:
        from cryptography import x509
    except ImportError:
        return _openssl_cert(directory)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lfmwatch test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = CertFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


def _openssl_cert(directory: Path) -> CertFiles:
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    files = CertFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=lfmwatch test SMTP", "-keyout", str(files.key), "-out", str(files.cert),
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=30,
    )
    return files


def free_port() -> int:
    """A port nobody listens on right now (tiny race window; fine on loopback in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    auth_user: str | None


@dataclass
class _Script:
    data_failures: list[str] = field(default_factory=list)


class SmtpFake:
    """aiosmtpd Controller plus a recording handler; a context manager."""

    def __init__(self, *, security: str = "none", cert: CertFiles | None = None, users: dict[str, str] | None = None,
                 refuse: dict[str, int] | None = None, auth_require_tls: bool = True) -> None:
        if security != "none" and cert is None:
            raise ValueError("TLS needs cert=self_signed_cert(tmp_path)")
        self.security = security
        self.cert = cert
        self.users = users
        self.refuse = {k.lower(): v for k, v in (refuse or {}).items()}
        self.auth_require_tls = auth_require_tls
        self.messages: list[Received] = []
        self.auth_failures: list[str] = []
        self.port = 0
        self._script = _Script()
        self._lock = threading.Lock()
        self._controller: Any = None

    def fail_data(self, reply: str = "451 4.3.0 temporary failure, try later", times: int = 1) -> None:
        """Answer the next `times` DATA commands with `reply` (e.g. 451 transient, 554 permanent)."""
        with self._lock:
            self._script.data_failures.extend([reply] * times)

    def start(self) -> SmtpFake:
        """Listen on a free port of 127.0.0.1."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        fake = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                                  rcpt_options: list[str]) -> str:
                code = fake.refuse.get(address.lower())
                if code:
                    return f"{code} 5.1.1 <{address}>: recipient refused" if code >= 500 else \
                        f"{code} 4.2.0 <{address}>: mailbox busy, try later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with fake._lock:
                    if fake._script.data_failures:
                        return fake._script.data_failures.pop(0)
                    fake.messages.append(Received(
                        envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or b""),
                        tls=server.transport.get_extra_info("ssl_object") is not None,
                        auth_user=session.auth_data if session.authenticated else None,
                    ))
                return "250 2.0.0 Message accepted"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else str(auth_data.login)
            password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else str(auth_data.password)
            ok = fake.users is not None and fake.users.get(login) == password
            if not ok:
                fake.auth_failures.append(login)
            return AuthResult(success=ok, handled=False, auth_data=login)

        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": free_port(), "ready_timeout": 5.0}
        if self.cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert.cert, self.cert.key)
            if self.security == "tls":
                kwargs["ssl_context"] = ctx
            elif self.security == "starttls":
                kwargs["tls_context"] = ctx
                kwargs["require_starttls"] = True
        if self.users is not None:
            kwargs["authenticator"] = authenticator
            # aiosmtpd only counts STARTTLS as TLS for AUTH; an implicit-TLS connection is encrypted from the start.
            kwargs["auth_require_tls"] = self.auth_require_tls and self.security != "tls"
        self._controller = Controller(Handler(), **kwargs)
        self._controller.start()
        self.port = kwargs["port"]
        return self

    def close(self) -> None:
        """Stop the server."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
