"""``awsm sign-url``: mint a signed image path from the command line.

Registered on the gateway's ``awsm`` parser via ``register(subparsers)``; the work is
``signing.sign_path``, the same function backends call, so the CLI and code agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from awsm.settings import Settings
from media_svc.errors import InvalidOptions, InvalidSource
from media_svc.options import FITS, FORMATS, TransformSpec, canonical_options
from media_svc.signing import sign_path, srcset
from media_svc.sources import safe_relative_path

__all__ = ["register", "sign_url"]

MAX_EXPIRES_S = 10**11  # now + this stays within the 12 digits an exp_ may have


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign-url", help="print a signed /v1/img path for a source image",
        description="Sign an image URL with the first key of AWSM_SIGNING_KEYS. The last "
                    "line printed is the path, e.g. /v1/img/<sig>/w_800,f_webp/blog/hero.jpg",
    )
    parser.add_argument("source", help="source path under the media root, or an allowed URL")
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--fit", choices=FITS)
    parser.add_argument("--format", choices=FORMATS)
    parser.add_argument("--quality", type=int)
    parser.add_argument("--dpr", type=float)
    parser.add_argument("--expires", type=int, metavar="SECONDS",
                        help="the URL stops working this many seconds from now")
    parser.add_argument("--srcset", metavar="WIDTHS",
                        help="also print a srcset for these comma-separated widths")
    parser.add_argument("--data-dir", type=Path,
                        help="the data dir of a running `awsm up --demo`, whose keys to use "
                             "when AWSM_SIGNING_KEYS is not set (default .awsm)")
    parser.set_defaults(func=sign_url)
    return parser


def sign_url(args: argparse.Namespace, settings: Settings) -> int:
    keys = settings.signing_key_list
    if not keys:
        print("AWSM_SIGNING_KEYS is not set; set it to 'id1:<32+ random characters>'.",
              file=sys.stderr)
        return 2
    # the server reads exp_ as at most 12 digits (media_svc.options): a longer one is a 403
    if args.expires is not None and not 0 < args.expires <= MAX_EXPIRES_S:
        print(f"--expires takes a number of seconds from now, from 1 to {MAX_EXPIRES_S} "
              "(about 3,000 years).", file=sys.stderr)
        return 2
    expires = int(time.time()) + args.expires if args.expires is not None else None
    try:
        spec = TransformSpec(
            width=args.width, height=args.height, fit=args.fit or "cover", format=args.format,
            quality=args.quality, dpr=1.0 if args.dpr is None else args.dpr,
        )
        source = args.source.strip()
        if not source.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in source):
            raise InvalidSource("The source is not valid UTF-8 (bytes the shell passed as "
                                "they were).")
        if not source.startswith(("http://", "https://")):
            safe_relative_path(source.lstrip("/"))  # what the server would refuse, refused here
        if args.srcset:
            try:
                widths = [int(w) for w in args.srcset.split(",") if w.strip()]
            except ValueError:
                print("--srcset takes comma-separated widths in pixels, e.g. 320,640,1280.",
                      file=sys.stderr)
                return 2
            print(srcset(keys, args.source, widths, spec, expires))
    except (InvalidOptions, InvalidSource) as exc:
        print(exc.public_message, file=sys.stderr)
        return 2
    print(f"# options: {canonical_options(spec, expires)}", file=sys.stderr)
    print(sign_path(keys, spec, args.source, expires))
    return 0
