"""TLS for the native front end: the server's certificate, loaded once, and each handshake.

The certificate and key are read before anything is served, so that a missing file, a key
that is not the certificate's or a file that is not PEM is one line naming the option and
the cause (:class:`TLSError`), on either front end. Each accepted connection then gets its
handshake within :data:`HANDSHAKE_TIMEOUT` seconds: a client that opens a connection and
never finishes (or never starts) its handshake holds its descriptor no longer than that,
and one that fails it (plain HTTP sent to the TLS port, a client that does not trust the
certificate) costs one log line.
"""

import errno
import logging
import ssl

import trio

logger = logging.getLogger("minidiscord.frontend")

# Two round trips on any real network take far less; a client that needs longer is stalling.
HANDSHAKE_TIMEOUT = 10.0


class TLSError(Exception):
    """The certificate or key cannot be used; the message is one line."""


def server_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The TLS context serving ``certfile`` (the certificate chain, PEM) with ``keyfile``
    (its private key, PEM; when None, the key is in ``certfile``); None without a
    certificate. Raises :class:`TLSError` when they cannot be used."""
    if certfile is None:
        if keyfile is not None:
            raise TLSError(
                "--keyfile needs --certfile: a private key alone cannot serve TLS (give the "
                "certificate chain it belongs to)"
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # Browsers and every maintained client speak TLS 1.2 or later.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A client may not renegotiate: each renegotiation costs the server a handshake.
    context.options |= ssl.OP_NO_RENEGOTIATION
    # HTTP/1.1 is all the native front end speaks (a client offering h2 falls back to it).
    context.set_alpn_protocols(["http/1.1"])
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None:
            _check_readable(option, path)
    try:
        # Without a password callback OpenSSL would prompt on the terminal, and a service
        # starting would wait for ever.
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except _Encrypted:
        raise TLSError(
            f"--keyfile {keyfile or certfile}: the private key is encrypted; give the server "
            "an unencrypted copy readable only by its user (openssl pkey -in KEY -out COPY)"
        ) from None
    except ssl.SSLError as exc:
        raise TLSError(_load_failure(certfile, keyfile, exc)) from None
    except OSError as exc:
        raise TLSError(f"--certfile {certfile}: {exc.strerror or exc}") from None
    return context


class _Encrypted(Exception):
    pass


def _no_password() -> bytes:
    raise _Encrypted


def _check_readable(option: str, path: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        cause = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            cause = "no such file"
        elif exc.errno == errno.EISDIR:
            cause = "a directory, not a PEM file"
        raise TLSError(f"{option} {path}: {cause}") from None


def _load_failure(certfile: str, keyfile: str | None, exc: ssl.SSLError) -> str:
    reason = exc.reason or ""
    if reason == "KEY_VALUES_MISMATCH":
        return f"--keyfile {keyfile}: this private key is not the one of --certfile {certfile}"
    if keyfile is None:
        return (
            f"--certfile {certfile}: cannot load a certificate and its private key from it "
            f"({reason or exc}); give the key with --keyfile if it is in another file"
        )
    # OpenSSL reads the certificate first: which file is at fault shows in where it stopped.
    if _loads_as_certificate(certfile):
        return f"--keyfile {keyfile}: not a PEM private key without a password ({reason or exc})"
    return f"--certfile {certfile}: not a PEM certificate ({reason or exc})"


def _loads_as_certificate(certfile: str) -> bool:
    try:
        ssl.create_default_context().load_verify_locations(certfile)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


# What the operator can do about the failures a client may cause, by OpenSSL's name.
_UNTRUSTED = "the client does not trust the certificate (is its chain whole, and current?)"
_FAILURES = {
    "HTTP_REQUEST": "the client spoke plain HTTP to the TLS port (http:// for https://)",
    "TLSV1_ALERT_UNKNOWN_CA": _UNTRUSTED,
    "SSLV3_ALERT_BAD_CERTIFICATE": _UNTRUSTED,
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": _UNTRUSTED,
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the client says the certificate has expired",
}


async def handshake(stream: trio.SSLStream[trio.SocketStream], client: str) -> bool:
    """Complete the server side of the handshake (its caller bounds it in time); False,
    with one log line, when the client fails it or goes away."""
    try:
        await stream.do_handshake()
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        logger.info("TLS handshake with %s failed: %s", client, _failure(exc.__cause__))
        return False
    return True


def _failure(cause: BaseException | None) -> str:
    if isinstance(cause, ssl.SSLError) and cause.reason:
        explained = _FAILURES.get(cause.reason)
        return f"{explained} ({cause.reason})" if explained else cause.reason
    if cause is None or isinstance(cause, ssl.SSLEOFError | ConnectionError):
        return "the client closed the connection"
    return str(cause)
