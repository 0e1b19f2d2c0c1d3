"""The node's DICOM listener: C-STORE of image storage SOP classes, and C-ECHO.

Associations whose calling AE title is not allowed are rejected at association (no data
is exchanged).  Each C-STORE is answered with the status the node's ``store`` callback
returns, so success is only sent once the instance is safely in the spool.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

__all__ = ["StoreSCP", "image_storage_contexts"]

log = logging.getLogger("medden.node")


def image_storage_contexts() -> list[PresentationContext]:
    """Presentation contexts of every image storage SOP class, with every transfer syntax
    pynetdicom knows (compressed ones are decoded when read)."""
    return [build_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
            for context in AllStoragePresentationContexts
            if "Image" in UID(context.abstract_syntax).name]


class StoreSCP:
    """A C-STORE / C-ECHO service class provider.

    Parameters
    ----------
    ae_title : str
        The node's AE title.
    allow : sequence of str
        Calling AE titles accepted (empty: any).
    store : callable
        Called with each C-STORE event; returns the status to answer.
    """

    def __init__(self, ae_title: str, allow: Sequence[str],
                 store: Callable[[Any], int]) -> None:
        self.ae = AE(ae_title)
        self.ae.supported_contexts = [*image_storage_contexts(), build_context(Verification)]
        self.ae.require_calling_aet = list(allow)
        self.store = store
        self.server: Any = None

    def _rejected(self, event: Any) -> None:
        log.warning("association from AE title %r rejected (not in --allow)",
                    event.assoc.requestor.ae_title)

    def start(self, address: str, port: int, ssl_context: ssl.SSLContext | None = None
              ) -> int:
        """Listen on ``address:port`` (0: a free port) in the background; returns the port."""
        handlers = [(evt.EVT_C_STORE, self.store), (evt.EVT_REJECTED, self._rejected)]
        self.server = self.ae.start_server((address, port), block=False,
                                           evt_handlers=handlers, ssl_context=ssl_context)
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop listening and end the open associations."""
        self.ae.shutdown()
