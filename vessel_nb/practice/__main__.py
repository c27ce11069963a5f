"""``python -m vessel_nb.practice``: run the practice servers until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from .fleet import PracticeFleet
from .server import PROVIDERS

BANNER = "vessel_nb PRACTICE servers — canned replies, NOT real models"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m vessel_nb.practice",
        description="Run loopback practice servers that speak the Ollama, Anthropic, OpenAI and Gemini "
        "wire protocols with canned replies (no real model behind them).",
    )
    parser.add_argument(
        "--providers",
        nargs="+",
        choices=PROVIDERS,
        default=list(PROVIDERS),
        metavar="NAME",
        help=f"which servers to run (default: all of {', '.join(PROVIDERS)})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        metavar="N",
        help="ports N..N+3 in the order ollama, anthropic, openai, gemini (default: free ports)",
    )
    parser.add_argument(
        "--pace", type=float, default=0.02, metavar="S", help="seconds between streamed pieces (default 0.02)"
    )
    return parser.parse_args(argv)


def describe(fleet: PracticeFleet) -> str:
    """The banner: what these are, where they listen, and how to point clients at them."""
    rule = "=" * len(BANNER)
    lines = [rule, BANNER, rule, ""]
    for name in fleet.names:
        lines.append(f"  practice {name:<9} {fleet[name].base_url}")
    lines += ["", "Point vessel_nb (or any client) at them with:", ""]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in fleet.env().items()]
    lines += ["", "Replies are canned and say they are practice. Ctrl-C stops the servers."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the fleet, print the banner, wait for Ctrl-C / SIGTERM, stop cleanly."""
    args = parse_args(argv)
    fleet = PracticeFleet(args.providers, host=args.host, port_base=args.port_base, pace=args.pace)
    try:
        fleet.start()
    except OSError as exc:
        print(f"Could not start the practice servers: {exc}. Try another --port-base.", file=sys.stderr)
        return 1
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        print(describe(fleet), flush=True)
        while not done.wait(0.5):  # a timed wait keeps Ctrl-C responsive on every platform
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        fleet.stop()
        print("Practice servers stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
