"""Starting a prompt-set run: every argument of ``orch.map`` checked before anything is sent.

Bad input is one clear error and nothing starts: the prompts and template, the vessels,
the limits, the call options (the first call is built, which checks them as ``ask`` does),
and — with a budget — a price for every cloud model the run may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import errors as E
from . import pacing, progress, runplan
from .images import load_image
from .runplan import AUTO
from .runs import Run

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator


def start(
    orch: AIOrchestrator,
    prompts: Any,
    vessels: Sequence[str] | str | None = None,
    *,
    template: str | None = None,
    concurrency: int | None = None,
    per_vessel: int | dict[str, int] | None = None,
    retries: int = 8,
    budget_usd: float | None = None,
    progress: str | bool | None = "auto",
    **call_options: Any,
) -> Run:
    """Check everything, then start the run (see :meth:`AIOrchestrator.map`)."""
    for name in ("vessel", "run_id", "run_item", "compare_id"):
        if name in call_options:
            raise E.ConfigError(f"map() does not take {name}=; name the vessels with vessels=[...]")
    items = runplan.prompts_of(prompts, template)
    slots = runplan.slots_of(orch, vessels)
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise E.ConfigError(f"concurrency must be a whole number of calls, 1 or more, not {concurrency!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise E.ConfigError(f"retries must be a whole number, 0 or more, not {retries!r}")
    if call_options.get("model") is not None and slots == [AUTO]:
        raise E.ConfigError(
            f"model= picks a model on one vessel; name it with vessels=, e.g. vessels=[{orch.priority[0]!r}]"
        )
    _check_per_vessel(orch, per_vessel)
    limits = {slot: _limit(orch, slot, concurrency, per_vessel) for slot in slots}
    pairs = runplan.pairs_of(items, slots)
    # bad options are one error before anything is sent: build each distinct call once
    vessel = None if slots == [AUTO] else slots[0]
    orch._core(list(pairs[0].messages), vessel=vessel, **call_options)
    if call_options.get("images") is not None:
        # read once, here: every call sends these bytes, and the run key hashes them (a file
        # changed on disk during the run, or before a rerun, cannot mix into its answers)
        call_options = {**call_options, "images": [load_image(i) for i in call_options["images"]]}
    if budget_usd is not None:
        _check_budget(orch, slots, budget_usd, call_options.get("model"))
    show = _show(progress)
    return Run(
        orch,
        pairs,
        runplan.run_key(orch, items, slots, call_options),
        limits,
        call_options,
        concurrency=concurrency,
        retries=retries,
        budget_usd=None if budget_usd is None else float(budget_usd),
        show=show,
    )


def _check_per_vessel(orch: AIOrchestrator, per_vessel: Any) -> None:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if per_vessel is None or whole(per_vessel):
        return
    if not isinstance(per_vessel, dict):
        raise E.ConfigError(
            f"per_vessel must be a whole number of calls at once (1 or more) or a dict of vessel -> number, "
            f"e.g. per_vessel={{{orch.priority[0]!r}: 2}}; not {per_vessel!r:.60}"
        )
    unknown = [n for n in per_vessel if n not in orch.vessels and n != AUTO]
    if unknown:
        raise E.ConfigError(
            f"per_vessel names {unknown[0]!r}, which is not a vessel; vessels: {', '.join(orch.vessels)}"
        )
    wrong = next(((n, v) for n, v in per_vessel.items() if not whole(v)), None)
    if wrong is not None:
        raise E.ConfigError(
            f"per_vessel[{wrong[0]!r}] must be a whole number of calls at once, 1 or more, not {wrong[1]!r:.60}"
        )


def _limit(orch: AIOrchestrator, slot: str, concurrency: int | None, per_vessel: Any) -> int:
    if isinstance(per_vessel, dict):
        if slot in per_vessel:
            return per_vessel[slot]
    elif per_vessel is not None:
        return per_vessel
    if slot == AUTO:
        if concurrency is not None:
            return concurrency
        slot = orch.priority[0]  # a routed prompt goes to the head of the priority list first
    adapter = orch.vessels[slot]
    # per host: a pool of three Ollama machines runs three times what one does
    default = (pacing.LOCAL_LIMIT if adapter.local else pacing.CLOUD_LIMIT) * len(adapter.hosts)
    return min(default, concurrency) if concurrency is not None else default


def _check_budget(orch: AIOrchestrator, slots: list[str], budget: Any, model: str | None) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0:
        raise E.ConfigError(f"budget_usd must be a number of dollars, 0 or more, not {budget!r}")
    names = list(orch.priority) if slots == [AUTO] else slots
    for name in names:
        adapter = orch.vessels[name]
        served = model or adapter.model
        if not adapter.local and served not in orch.prices:
            raise E.ConfigError(
                f"budget_usd= needs the price of {served!r} (vessel {name}), and the price table has none; "
                f'add [prices."{served}"] input = ..., output = ... to the config file, or call '
                f"orch.prices.set({served!r}, input=..., output=...) (dollars per million tokens)"
            )


def _show(choice: str | bool | None) -> str | None:
    if choice in (None, False):
        return None
    if choice in (True, "auto"):
        return "notebook" if progress.in_notebook() else "terminal"
    if choice in ("notebook", "terminal"):
        return choice
    raise E.ConfigError(f"progress must be 'auto', 'notebook', 'terminal' or False, not {choice!r}")
