"""TLS contexts for the node's DICOM connections (PS3.15 B.1 secure transport)."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["server_context", "client_context"]


def server_context(cert: Path, key: Path, ca: Path | None = None) -> ssl.SSLContext:
    """The context of the node's SCP: its certificate and key; with ``ca``, callers must
    present a certificate that ``ca`` signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if ca is not None:
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca: Path | None, cert: Path | None = None, key: Path | None = None
                   ) -> ssl.SSLContext:
    """The context of the node's connections to the destination: its certificate is
    checked against ``ca`` (the system's authorities when None); ``cert``/``key`` are
    presented when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context
