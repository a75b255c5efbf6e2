"""A certificate for a TLS server in a test: a throwaway CA, made in the test, that signs one.

The server certificate names every way a test reaches a loopback server (``localhost``,
``127.0.0.1``, ``::1``). Clients trust the CA through ``ca_file`` (node's
``NODE_EXTRA_CA_CERTS``, requests' ``verify``) or :meth:`ServerCertificate.client_context`.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServerCertificate:
    """PEM files: the server's certificate, its key, both in one file, and the CA's."""

    certfile: Path
    keyfile: Path
    combined: Path
    ca_file: Path
    ca: trustme.CA

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and no other)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @property
    def server_options(self) -> dict[str, str]:
        """The settings that serve it (overrides for ``start_server``)."""
        return {"certfile": str(self.certfile), "keyfile": str(self.keyfile)}


def make_certificate(directory: Path) -> ServerCertificate:
    """A new CA and a server certificate for the loopback names, written in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1", "::1")
    certificate = ServerCertificate(
        certfile=directory / "server.crt",
        keyfile=directory / "server.key",
        combined=directory / "server.pem",
        ca_file=directory / "ca.crt",
        ca=ca,
    )
    # The chain: the server's certificate first (trustme's CA signs it directly).
    certificate.certfile.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(certificate.keyfile))
    issued.private_key_and_cert_chain_pem.write_to_path(str(certificate.combined))
    ca.cert_pem.write_to_path(str(certificate.ca_file))
    return certificate
