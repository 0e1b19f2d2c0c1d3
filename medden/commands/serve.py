"""``medden serve``: a DICOM node that denoises the series it receives (docs/node.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from medden.commands.denoise import add_denoiser_arguments, denoising
from medden.errors import UsageError

if TYPE_CHECKING:  # pydicom, pynetdicom and torch are imported when the node runs
    from medden.node import Destination, NodeSettings


def _destination(text: str) -> Destination:
    from medden.node import Destination

    try:
        return Destination.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _titles(text: str) -> tuple[str, ...]:
    titles = tuple(t.strip() for t in text.split(",") if t.strip())
    if not titles or any(len(t) > 16 for t in titles):
        raise argparse.ArgumentTypeError(f"expected AE titles (at most 16 characters) "
                                         f"separated by commas, got {text!r}")
    return titles


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command."""
    parser = subparsers.add_parser(
        "serve",
        help="a DICOM node: receive series (C-STORE), denoise, send derived series to a PACS",
        description=(
            "Listen for DICOM C-STORE (image storage SOP classes) and C-ECHO. Each received "
            "instance is written to SPOOL (atomically, fsync'ed) and journaled before success "
            "is answered; an instance that cannot be taken is answered with a failure status "
            "and recorded. A series is complete when no instance of it arrived for --idle "
            "seconds; it is then denoised as 'medden denoise' does (the default bundle of "
            "its modality, or the denoiser given) and the derived series (new Series/SOP "
            "UIDs, same study, ImageType DERIVED) is sent with C-STORE to --forward, retrying "
            "with back-off while it cannot be reached. After a restart the journal in SPOOL "
            "finishes pending series: none lost, none sent twice. SPOOL/status.json counts "
            "received, pending, sent and failed instances per series. SIGTERM stops cleanly. "
            "See docs/node.md."
        ),
    )
    parser.add_argument("--ae-title", default="MEDDEN", type=lambda t: _titles(t)[0],
                        metavar="AET", help="the node's AE title (default MEDDEN)")
    parser.add_argument("--port", type=int, default=11112,
                        help="port to listen on (default 11112; 0: a free port, written to "
                             "status.json)")
    parser.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--forward", required=True, type=_destination,
                        metavar="DEST_AET@HOST:PORT", help="where derived series are sent")
    parser.add_argument("--spool", required=True, type=Path, metavar="DIR",
                        help="spool folder: received instances, derived series, journal, "
                             "status.json")
    parser.add_argument("--idle", type=float, default=30.0, metavar="SECONDS",
                        help="a series is complete after this long without an instance "
                             "(default 30)")
    parser.add_argument("--allow", type=_titles, default=(), metavar="AET,...",
                        help="calling AE titles accepted (others are rejected at "
                             "association); default: any")
    parser.add_argument("--retry-delay", type=float, default=5.0, metavar="SECONDS",
                        help="first wait before retrying a destination that cannot take "
                             "instances, doubled at each failure (default 5)")
    parser.add_argument("--retry-max", type=float, default=300.0, metavar="SECONDS",
                        help="longest wait between retries (default 300)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the files of delivered series in the spool")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM",
                        help="accept associations over TLS only, with this certificate")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key")
    parser.add_argument("--tls-ca", type=Path, metavar="PEM",
                        help="with --tls-cert: require callers' certificates signed by it; "
                             "with --forward-tls: check the destination's against it")
    parser.add_argument("--forward-tls", action="store_true",
                        help="send to the destination over TLS (presenting --tls-cert)")
    add_denoiser_arguments(parser)
    parser.set_defaults(func=run, modality=None, quiet=True)


def _settings(args: argparse.Namespace) -> NodeSettings:
    from medden.node import NodeSettings
    from medden.node.tls import client_context, server_context

    if args.idle <= 0 or args.retry_delay <= 0 or args.retry_max < args.retry_delay:
        raise UsageError("--idle and --retry-delay must be positive, --retry-max at least "
                         "--retry-delay")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    try:
        server = None if args.tls_cert is None else server_context(args.tls_cert,
                                                                   args.tls_key, args.tls_ca)
        client = (client_context(args.tls_ca, args.tls_cert, args.tls_key)
                  if args.forward_tls else None)
    except (OSError, ValueError) as exc:
        raise UsageError(f"TLS: {exc}") from None
    return NodeSettings(
        ae_title=args.ae_title, destination=args.forward, spool=args.spool, bind=args.bind,
        port=args.port, idle=args.idle, allow=args.allow, retry_delay=args.retry_delay,
        retry_max=args.retry_max, keep=args.keep, server_tls=server, client_tls=client)


def run(args: argparse.Namespace) -> int:
    """Run the node until SIGTERM or Ctrl-C; exit 0 after a clean shutdown."""
    from medden.node import Node

    logging.basicConfig(level=logging.INFO, format="%(asctime)s medden serve: %(message)s")
    log = logging.getLogger("medden.node")
    settings = _settings(args)
    prepare, denoiser = denoising(args)
    node = Node(settings, prepare, **denoiser)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        port = node.start()
    except OSError as exc:
        node.journal.close()
        raise UsageError(f"cannot listen on {settings.bind}:{settings.port}: "
                         f"{exc.strerror or exc}") from None
    if settings.bind not in ("127.0.0.1", "::1", "localhost") and not settings.allow:
        log.warning("listening on %s without --allow: any calling AE title is accepted",
                    settings.bind)
    log.info("%s listening on %s:%d, forwarding to %s", settings.ae_title, settings.bind,
             port, settings.destination)
    while not stop.wait(1.0):
        pass
    log.info("stopping")
    node.stop()
    log.info("stopped")
    return 0
