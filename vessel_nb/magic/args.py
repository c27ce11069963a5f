"""The ``%%ask`` command line: its options, ``{name}`` interpolation, and the call options
they turn into.

Options are declared with IPython's ``magic_arguments`` so ``%%ask?`` shows the help and a
bad option is a clean ``UsageError``. Everything here is pure: no network, no display.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
import string
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

FORMATS = ("markdown", "text", "code")

# The options of %%ask, in the order %%ask? lists them.
_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-v", "--vessel"), {"metavar": "NAME", "help": "ask this vessel only (no fallback), e.g. --vessel=ollama"}),
    (("--private",), {"action": "store_true", "help": "keep the call on a local vessel; it never goes to the cloud"}),
    (("--heartbeat",), {"action": "store_true", "help": "a routine check-in: local vessels only, like --private"}),
    (
        ("--vision",),
        {
            "metavar": "IMAGE",
            "help": "attach an image (file path, data: URL, or a variable holding bytes "
            "or a path) and route to a vessel that can see",
        },
    ),
    (("--think",), {"action": "store_true", "help": "route to a reasoning vessel and ask for its thinking"}),
    (
        ("-m", "--model"),
        {"metavar": "MODEL", "help": "model to use on the chosen vessel (needs --vessel or %%ask use)"},
    ),
    (("-s", "--system"), {"metavar": "TEXT", "help": "system prompt for this cell ({name} is filled in too)"}),
    (("-t", "--temperature"), {"type": float, "metavar": "T", "help": "sampling temperature, 0 to 2"}),
    (("--max-tokens",), {"type": int, "metavar": "N", "dest": "max_tokens", "help": "longest answer, in tokens"}),
    (
        ("-f", "--format"),
        {
            "choices": FORMATS,
            "default": None,
            "help": "markdown (default), text, or code: put the answer's code in a new cell",
        },
    ),
    (("-o", "--out"), {"metavar": "VAR", "help": "store the Reply in this variable (a dict of them with --compare)"}),
    (("--compare",), {"metavar": "A,B,...", "help": "ask several vessels at once and show the answers side by side"}),
    (
        ("--over",),
        {"metavar": "VAR", "help": "run the cell as a template over a list or DataFrame (orch.map); see --vessels"},
    ),
    (("--vessels",), {"metavar": "A,B,...", "help": "with --over: ask every prompt on each of these vessels"}),
    (("-c", "--chat"), {"action": "store_true", "help": "continue the conversation: send the last exchanges too"}),
    (("--new",), {"action": "store_true", "help": "start a new conversation (forget earlier exchanges)"}),
    (("--raw",), {"action": "store_true", "help": "do not fill in {name} from your variables"}),
    (
        ("--strict",),
        {"action": "store_true", "help": "a {name} that cannot be filled in is an error (by default: a warning)"},
    ),
    (("--traceback",), {"action": "store_true", "help": "on error, show the full Python traceback"}),
]


def ask_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the magic function with every ``%%ask`` option."""
    for flags, kwargs in reversed(_OPTIONS):
        func = argument(*flags, **kwargs)(func)
    return magic_arguments()(func)


def parse(func: Callable[..., Any], line: str) -> argparse.Namespace:
    """Parse the ``%%ask`` line; every problem is a UsageError that names the option."""
    try:
        # shlex in POSIX mode, so --system "Answer in Korean." loses its quotes (IPython's
        # own arg_split keeps them on purpose, for Windows paths).
        argv = shlex.split(line)
    except ValueError as exc:  # "No closing quotation"
        raise UsageError(f"%%ask: cannot read the options: {exc}") from None
    args = func.parser.parse_args(argv)
    if args.compare is not None and args.vessel is not None:
        raise UsageError("%%ask: use --compare or --vessel, not both")
    if args.chat and args.new:
        raise UsageError("%%ask: use --chat (continue) or --new (start over), not both")
    if args.over is not None:  # a run over many prompts: these options mean nothing there
        given = [
            flag
            for flag, on in (("--compare", args.compare is not None), ("--chat", args.chat), ("--new", args.new))
            if on
        ]
        if given:
            raise UsageError(
                f"%%ask --over runs one template over many prompts; it cannot go with {given[0]} "
                "(to ask every prompt on several vessels, use --vessels A,B)"
            )
        if args.vessel is not None and args.vessels is not None:
            raise UsageError("%%ask --over: use --vessels A,B or --vessel A, not both")
    elif args.vessels is not None:
        raise UsageError(
            "%%ask: --vessels goes with --over VAR (a template over many prompts); "
            "to ask one prompt on several vessels, use --compare A,B"
        )
    if args.out is not None and not args.out.isidentifier():
        raise UsageError(f"%%ask: -o needs a variable name, not {args.out!r}")
    return args


def compare_names(value: str, known: Mapping[str, Any]) -> list[str]:
    """``"ollama, claude"`` -> ``["ollama", "claude"]``, checked against the configured vessels."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if len(names) < 2:
        raise UsageError("%%ask --compare needs two or more vessel names, e.g. --compare ollama,claude")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"%%ask --compare: unknown vessel {unknown[0]!r}; configured: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise UsageError("%%ask --compare: a vessel is named twice")
    return names


# {{ and }} are escapes; {name}, {name.attr}, {name[0]}, with optional !r and :spec.
_FIELD = re.compile(
    r"\{\{|\}\}|\{(?P<field>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]{}]+\])*)(?P<conv>![rsa])?(?::(?P<spec>[^{}]*))?\}"
)
_formatter = string.Formatter()


def interpolate(text: str, namespace: Mapping[str, Any], missing: list[str] | None = None) -> str:
    """Fill ``{name}`` from ``namespace`` as str.format would; ``{{`` gives ``{``.

    Anything that is not a known name (JSON, set literals, a typo) is left exactly as it
    was, so a prompt full of code never fails here; ``missing`` (when given) collects those
    fields, ``{name}`` as typed, so the caller can say which ones went out unfilled.
    """

    def replace(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        field = m.group("field")
        if field.split(".", 1)[0].split("[", 1)[0] not in namespace:
            if missing is not None and token not in missing:
                missing.append(token)
            return token
        try:
            value, _ = _formatter.get_field(field, (), namespace)
            if m.group("conv"):
                value = _formatter.convert_field(value, m.group("conv")[1])
            return format(value, m.group("spec") or "")
        except Exception:  # noqa: BLE001 — a failing lookup leaves the text as typed
            if missing is not None and token not in missing:
                missing.append(token)
            return token

    return _FIELD.sub(replace, text)


def unfilled_message(missing: list[str], *, strict: bool = False) -> str:
    """Say which ``{name}`` fields could not be filled in, and the three ways out."""
    names = ", ".join(missing)
    one = len(missing) == 1
    what = f"{names} {'is' if one else 'are'} not defined here (or could not be filled in)"
    escaped = "{{" + missing[0][1:-1] + "}}"
    fixes = f"define {'it' if one else 'them'} first, write {escaped} to send the braces themselves, or use --raw"
    if strict:
        return f"%%ask --strict: {what}; nothing was sent. To go on, {fixes}."
    return f"%%ask warning: {what}, so it stays in the prompt as typed. To fill it in, {fixes} (--strict makes this an error)."


def resolve_image(value: str, namespace: Mapping[str, Any]) -> Any:
    """``--vision`` value -> what :func:`vessel_nb.images.load_image` takes.

    A name in the user namespace wins (bytes, a path, a PIL image); otherwise the text is a
    file path or a ``data:`` URL. Validation is left to the core, which says what is wrong.
    """
    if value.isidentifier() and value in namespace:
        obj = namespace[value]
        if hasattr(obj, "save") and hasattr(obj, "mode"):  # a PIL image: send it as PNG
            buf = io.BytesIO()
            obj.save(buf, format="PNG")
            return buf.getvalue()
        return obj
    return value


def call_options(args: argparse.Namespace, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``orch.stream_sync`` from parsed options (not the prompt).

    ``{name}`` in the options themselves (``--system "About {topic}"``) was already filled
    in by IPython, which expands the line of every magic before calling it.
    """
    task = {
        k: True
        for k, on in (
            ("private", args.private),
            ("heartbeat", args.heartbeat),
            ("needs_vision", args.vision is not None),
            ("needs_thinking", args.think),
        )
        if on
    }
    opts: dict[str, Any] = {
        "vessel": args.vessel,
        "task": task or None,
        "system": args.system,
        "images": [resolve_image(args.vision, namespace)] if args.vision is not None else None,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "model": args.model,
    }
    return {k: v for k, v in opts.items() if v is not None}
