"""Sending derived instances to the destination with C-STORE.

:class:`Forwarder` opens one association per attempt and reports each instance's status as
it comes, so the caller can journal every stored instance at once.  A destination that
cannot be reached, rejects or aborts the association, does not answer, or is out of
resources raises :class:`Unreachable` (try again later); any other failure status is the
destination's final word on that instance (also :data:`SOP_CLASS_NOT_SUPPORTED`, for an
instance whose SOP class the destination accepted no presentation context of).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

__all__ = ["Destination", "Forwarder", "SOP_CLASS_NOT_SUPPORTED", "Unreachable", "delivered",
           "transient"]


#: The status given to an instance whose SOP class the destination does not accept.
SOP_CLASS_NOT_SUPPORTED = 0x0122


class Unreachable(Exception):
    """The destination cannot take instances now."""


def delivered(status: int) -> bool:
    """Whether a C-STORE status means stored: success, or a warning (coercion, elements
    discarded, data set does not match SOP class)."""
    return status == 0x0000 or status in (0x0001, 0x0107, 0x0116) or status >> 12 == 0xB


def transient(status: int) -> bool:
    """Whether a C-STORE failure may pass if tried later (out of resources)."""
    return status >> 8 == 0xA7


@dataclass(frozen=True)
class Destination:
    """A DICOM peer: ``AE_TITLE@HOST:PORT``."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Parse ``AE_TITLE@HOST:PORT``.

        Raises
        ------
        ValueError
            When ``text`` is not of that form.
        """
        title, at, address = text.partition("@")
        host, colon, port = address.rpartition(":")
        if not (at and colon and title and host and port.isdigit()
                and 0 < int(port) < 65536 and len(title) <= 16):
            raise ValueError(f"expected AE_TITLE@HOST:PORT (AE title at most 16 characters), "
                             f"got {text!r}")
        return cls(title, host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


class Forwarder:
    """Sends files to ``destination`` as ``calling`` (optionally over TLS).

    Parameters
    ----------
    calling : str
        The node's AE title.
    destination : Destination
        Where to send.
    ssl_context : ssl.SSLContext, optional
        TLS client context (:func:`medden.node.tls.client_context`).
    timeout : float
        Seconds to wait for the connection, the association and each response.
    """

    def __init__(self, calling: str, destination: Destination,
                 ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0) -> None:
        self.calling = calling
        self.destination = destination
        self.ssl_context = ssl_context
        self.timeout = timeout

    def send(self, files: Sequence[Path]) -> Iterator[tuple[Path, int]]:
        """C-STORE ``files`` in one association, yielding each file with its status.

        Raises
        ------
        Unreachable
            When the association cannot be made or breaks, a response does not come, or
            the destination is out of resources; the files not yet yielded are unsent.
        """
        datasets = [(path, pydicom.dcmread(path)) for path in files]
        ae = AE(self.calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.connection_timeout = self.timeout
        for sop_class in dict.fromkeys(str(ds.SOPClassUID) for _, ds in datasets):
            ae.add_requested_context(sop_class, [ExplicitVRLittleEndian,
                                                 ImplicitVRLittleEndian])
        tls = None if self.ssl_context is None else (self.ssl_context, self.destination.host)
        where = str(self.destination)
        assoc = ae.associate(self.destination.host, self.destination.port,
                             ae_title=self.destination.ae_title, tls_args=tls)
        if not assoc.is_established:
            raise Unreachable(f"no association with {where} ("
                              f"{'rejected' if assoc.is_rejected else 'unreachable'})")
        accepted = {str(context.abstract_syntax) for context in assoc.accepted_contexts}
        try:
            for path, ds in datasets:
                if str(ds.SOPClassUID) not in accepted:
                    yield path, SOP_CLASS_NOT_SUPPORTED
                    continue
                try:
                    response = assoc.send_c_store(ds)
                except RuntimeError as exc:  # the association ended
                    raise Unreachable(f"{where}: {exc}") from None
                status = response.get("Status") if response else None
                if status is None:
                    raise Unreachable(f"{where} did not answer (association "
                                      f"{'aborted' if assoc.is_aborted else 'timed out'})")
                if transient(int(status)):
                    raise Unreachable(f"{where} is out of resources (0x{int(status):04X})")
                yield path, int(status)
        finally:
            if assoc.is_established:
                assoc.release()
