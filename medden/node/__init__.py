"""``medden serve``: a DICOM node that receives series, denoises them and forwards the
derived series to a PACS (see :mod:`medden.node.service` and docs/node.md)."""

from medden.node.forward import Destination
from medden.node.service import Node, NodeSettings

__all__ = ["Destination", "Node", "NodeSettings"]
