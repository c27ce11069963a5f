"""The HTTP machinery every adapter shares: the pooled client, the stream loop under the
attempt's clock and the drain after the end-of-stream marker (the health probe and the
liveness watchdog are in :mod:`.probes`).

An adapter (:mod:`.base`) says what to send and how to read the answer; this module sends it,
keeps the time limits, and turns every HTTP or transport failure into a
:mod:`vessel_nb.errors` exception through :mod:`.translate`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

import httpx

from .. import errors as E
from ..types import CallOptions, Delta, Message, Timeouts
from ..wire import LineSplitter, LineTooLong
from . import prepared, tls, translate
from .clock import AttemptClock
from .probes import Watchdog

if TYPE_CHECKING:
    from .base import BaseAdapter
    from .reader import Reader

# Error bodies are small; a misbehaving server must not make us read megabytes.
_MAX_ERROR_BODY = 64 * 1024
# After the end-of-stream marker, how long to wait for the body to end (see _drain).
_DRAIN_SECONDS = 2.0

# Longest stretch the stream loop runs without giving the event loop a turn (reads of
# buffered data never suspend).
_TURN_SECONDS = 0.05

LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=10, keepalive_expiry=60)
"""connection pool limits of every adapter's client: streams are limited by ``ClientPool.slot``
instead, so a health probe never queues behind them"""


class ClientPool:
    """One ``httpx.AsyncClient`` per event loop, reused across calls.

    httpx clients belong to the loop that made them; keeping one per loop lets the pool
    reuse connections (no new TLS handshake per call).
    """

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def slot(self, size: int) -> asyncio.Semaphore:
        """This loop's stream slots: at most ``size`` streams at once, the others wait their turn.

        Waiting for a free connection is the caller's load, not the vessel's health: a stream
        takes its slot before its clock starts, so the wait neither fails the call nor marks
        the vessel down (httpx's own pool timeout counted it against the connect limit).
        """
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = asyncio.Semaphore(size)
        return slot

    def get(
        self,
        timeouts: Timeouts,
        make_transport: Callable[[], httpx.AsyncBaseTransport | None],
        *,
        trust_env: bool,
    ) -> httpx.AsyncClient:
        """This loop's client, made on first use (``make_transport`` is called then)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            t = timeouts
            client = httpx.AsyncClient(
                transport=make_transport(),
                timeout=http_timeout(t),
                limits=LIMITS,
                trust_env=trust_env,
                verify=tls.context(trust_env),
                follow_redirects=False,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close this loop's client."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


async def stream_deltas(adapter: BaseAdapter, messages: list[Message], opts: CallOptions) -> AsyncIterator[Delta]:
    """Send one streaming chat request and yield the adapter's deltas, within the time limits.

    ``opts`` is already resolved (model and max_tokens filled in). Ends with a StreamError
    when the body ends without the provider's end-of-stream marker.
    """
    method, path, body, headers = adapter.build_request(messages, list(opts.images), opts)
    t = opts.timeouts or adapter.timeouts
    loop = asyncio.get_running_loop()
    client = adapter._client()
    request = prepared.build(client, method, adapter.base_url + path, body, headers, http_timeout(t))
    response: httpx.Response | None = None
    chunks: AsyncIterator[bytes] | None = None
    inflight: Any = None
    slot = adapter._pool.slot(adapter.max_connections)
    await slot.acquire()  # before the clock starts: queueing is not the vessel's time
    clock = AttemptClock(loop, t, adapter.liveness_every)
    watchdog = Watchdog(adapter, clock, loop) if clock.liveness else None
    try:
        try:
            async with clock.limit() as cm:
                clock.scope = cm
                response = await client.send(request, stream=True)
                if response.status_code >= 300:
                    raise translate.from_status(
                        adapter, response.status_code, response.headers, await _read_limited(response)
                    )
        except TimeoutError:
            raise clock.timeout_error(adapter) from None
        except httpx.HTTPError as exc:
            raise translate.from_transport(adapter, exc, connect=t.connect) from None
        # The body as received (aiter_raw): aiter_bytes' decoding layer costs per read, and is
        # only needed when a proxy compressed the body (then it undoes the Content-Encoding)
        # or when the body was read already (a transport that returned it whole).
        decoded = response.is_stream_consumed or "content-encoding" in response.headers
        chunks = response.aiter_bytes() if decoded else response.aiter_raw()
        read_next = chunks.__anext__
        reader, splitter = adapter.reader(), LineSplitter()
        read, joiner = reader.line, _Joiner(reader)
        saw_done = ended = False
        clock.scope = None
        now = time.monotonic  # loop.time's clock, without its Python frame (read per read)
        turn = now() + _TURN_SECONDS
        while not (saw_done or ended):
            if now() >= turn:
                # Reads of buffered data never suspend: give the event loop a turn now and
                # then, or a transport that never waits (a buffered proxy, an in-memory body)
                # would starve the time limits' timer and every other call of the notebook.
                if joiner.held is not None:
                    yield joiner.take()
                clock.wait()
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    if clock.expired():
                        raise clock.timeout_error(adapter) from None
                    raise
                finally:
                    clock.waited()
                turn = now() + _TURN_SECONDS
            try:
                step = read_next()
                try:
                    pending = step.send(None)  # the read, as far as it gets without the network
                except StopIteration as got:
                    data = got.value  # it was buffered already: keep joining
                else:
                    # It waits for the network: pass on the text held so far first, then wait.
                    if joiner.held is not None:
                        inflight = step
                        yield joiner.take()
                        inflight = None
                    clock.wait()  # one lazy timer per attempt, not a timeout scope per read
                    try:
                        data = await _Rest(step, pending)
                    finally:
                        clock.waited()
                    turn = now() + _TURN_SECONDS
            except StopAsyncIteration:
                data = None
            except TimeoutError:
                raise clock.timeout_error(adapter) from None
            except asyncio.CancelledError:
                if clock.expired():
                    raise clock.timeout_error(adapter) from None
                raise
            except httpx.HTTPError as exc:
                raise translate.from_transport(adapter, exc) from None
            try:
                lines = splitter.feed(data) if data is not None else splitter.flush()
            except LineTooLong as exc:
                raise translate.stream_error(adapter, str(exc)) from None
            ended = data is None
            out: list[Delta] = []  # what must go out now, in order (the last text run stays held)
            try:
                run = joiner.run
                for line in lines:
                    got = read(line)
                    if got is None:
                        continue
                    if got.__class__ is str:  # a token's plain text (see Reader.line)
                        if run is not None:
                            run.append(got)  # the common case: joined to the text held
                            continue
                        got = Delta(text=got, model=reader.model)
                    out += joiner.push(got)
                    if got.done:
                        break  # what follows the marker is only read to end the body (_drain)
                    run = joiner.run
                else:
                    if ended:
                        for got in reader.end():
                            out += joiner.push(got)
                            if got.done:
                                break
            except Exception:
                if joiner.held is not None:
                    out.append(joiner.take())
                for delta in out:  # the text read before an error is passed on before it
                    yield delta
                raise
            for delta in out:
                if not clock.got_text and (delta.text or delta.thinking):
                    clock.got_text = True
                    if watchdog is not None:
                        watchdog.cancel()
                saw_done = delta.done
                yield delta
        if joiner.held is not None:
            yield joiner.take()
        if not saw_done:
            raise translate.stream_error(
                adapter, f"the stream ended without its {adapter.terminator()} (truncated answer)"
            )
        await _drain(chunks)
    finally:
        clock.stop()
        if watchdog is not None:
            watchdog.cancel()
        if inflight is not None:  # the caller stopped while a read was half-way: abandon it first
            await _abandon(inflight)
        if chunks is not None:
            await chunks.aclose()
        if response is not None:
            await response.aclose()
        slot.release()


class _Joiner:
    """Joins each run of plain text deltas into one (and each run of plain reasoning deltas).

    Why: on a fast stream many tokens are already buffered when the loop comes for the next
    (h11 still hands them over one HTTP chunk at a time), and everything downstream (the
    fallback loop, the hand-off to the caller's thread, the caller) pays per Delta, not per
    character. The stream loop keeps a run held only while the next piece of the body is
    already buffered, and passes it on (:meth:`take`) before any wait for the network, so
    joining never delays text. A delta that carries anything else (usage, a stop reason, the
    end, a different model name) goes out alone and in order. Until the first text of the
    attempt went out, deltas go out one by one: the first token is never held. Token counts
    are unaffected: they come from the provider's usage fields.

    ``run`` is the held text's list of parts while a reader's plain ``str`` (text of
    ``reader.model``, see :meth:`.Reader.line`) may simply be appended to it, else None: the
    stream loop joins a token there without building a Delta for it.
    """

    __slots__ = ("held", "parts", "prompt", "reader", "run")

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.held: Delta | None = None
        self.parts: list[str] = []
        self.prompt = True
        self.run: list[str] | None = None

    def push(self, d: Delta) -> tuple[Delta, ...]:
        """Take one delta; return what must go out now, in order."""
        if self.prompt:
            self.prompt = not (d.text or d.thinking)
            return (d,)
        if d.usage is None and d.stop_reason is None and not d.done and bool(d.text) != bool(d.thinking):
            held, out = self.held, ()
            if held is not None and held.model == d.model and bool(held.text) == bool(d.text):
                self.parts.append(d.text or d.thinking)
            else:
                if held is not None:
                    out = (self.take(),)
                self.held, self.parts = d, [d.text or d.thinking]
            self.run = self.parts if d.text and d.model == self.reader.model else None
            return out
        if self.held is not None:
            return (self.take(), d)
        return (d,)

    def take(self) -> Delta:
        """The held run as one Delta (there must be one)."""
        held, parts = self.held, self.parts
        assert held is not None
        if len(parts) > 1:
            if held.text:
                held.text = "".join(parts)
            else:
                held.thinking = "".join(parts)
        self.held, self.parts, self.run = None, [], None
        return held


async def _abandon(step: Any) -> None:
    """End a read started by hand and not finished, as a cancellation would (its clean-up
    may itself wait, e.g. to close the connection); then the body can be closed."""
    try:
        pending = step.throw(asyncio.CancelledError())
    except BaseException:  # noqa: BLE001 — the read ended (normally with the cancellation)
        return
    try:
        await _Rest(step, pending)
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 — only its clean-up was left
        pass


class _Rest:
    """Await the rest of an awaitable already started by hand (``step.send(None)`` gave
    ``pending``, the future it waits on): exactly what ``await`` would have done from there.

    The stream loop starts each read by hand to learn whether it can finish without the
    network (h11 hands over one HTTP chunk, one token, per read, and a read of buffered data
    never suspends). Only when it cannot is held text passed on before waiting.
    """

    __slots__ = ("step", "pending")

    def __init__(self, step: Any, pending: Any) -> None:
        self.step, self.pending = step, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        step, pending = self.step, self.pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # noqa: BLE001 — a cancellation (or anything) thrown in goes to the read
                try:
                    pending = step.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = step.send(sent)
                except StopIteration as done:
                    return done.value


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows the end-of-stream marker (normally just the end of the HTTP body).

    A response closed before its body is fully read cannot go back to the connection pool,
    so every call would pay a new TCP (and TLS) handshake. Whatever comes after the marker
    is ignored, and a server that keeps the body open gets a short grace period only.
    """
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError, E.VesselError):
        pass  # the answer is complete; this connection just won't be reused


def http_timeout(t: Timeouts) -> httpx.Timeout:
    """httpx's limits for an attempt: only connect and write; the attempt clock owns first
    token, idle gap and total, and pool=None because streams queue in ``ClientPool.slot``."""
    return httpx.Timeout(connect=t.connect, read=None, write=t.connect * 4, pool=None)


async def _read_limited(response: httpx.Response) -> bytes:
    body = b""
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > _MAX_ERROR_BODY:
            break
    return body
