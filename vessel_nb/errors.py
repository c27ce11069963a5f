"""Every exception vessel_nb raises, in one tree.

::

    VesselNBError                      base of everything below
    ├── ConfigError (ValueError)       bad input: unknown vessel, bad option, bad config file
    ├── VesselError                    one vessel failed one attempt
    │   ├── MissingKey                 no API key configured (no request was sent)
    │   ├── VesselUnavailable          connection refused, DNS, network down
    │   ├── VesselTimeout              connect / first token / idle gap / total limit hit
    │   ├── AuthError                  401 / 403 / Gemini's API_KEY_INVALID
    │   ├── ModelNotFound              404: model not pulled / not known to the provider
    │   ├── RateLimited                429 (carries retry_after)
    │   ├── BillingError               no quota or credit left (OpenAI insufficient_quota): long cooldown
    │   ├── ServerError                5xx, 529 (overloaded)
    │   ├── BadRequest                 other 4xx
    │   └── StreamError                error event inside a 200 stream, malformed or truncated stream
    ├── AllVesselsFailed (RuntimeError) every candidate was skipped or failed; one line per vessel
    │   └── NoLocalVessel              a private/heartbeat call found no local vessel up (fails closed)
    └── StreamInterrupted (RuntimeError) a vessel failed after tokens arrived; keeps the partial text

HTTP and transport failures, and error events inside a 200 stream, become these classes in
exactly one place, :mod:`vessel_nb.adapters.translate`; an error event gets the class of the HTTP
status it stands for. Messages are written for a person in a notebook: which
vessel, what happened, what to do. They never contain an API key.
"""

from __future__ import annotations


class VesselNBError(Exception):
    """Base class of every exception raised by vessel_nb."""


class ConfigError(VesselNBError, ValueError):
    """Bad input: names what is wrong and what would be right."""


class VesselError(VesselNBError):
    """One attempt on one vessel failed.

    ``before_first_token`` says whether any text had arrived; only failures before the
    first token are eligible for silent fallback.
    """

    #: short machine-readable kind, also used in the call log's ``error`` column
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        vessel: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        #: name of the vessel that failed
        self.vessel = vessel
        #: HTTP status, when the failure came with one
        self.status = status
        #: seconds the provider asked us to wait (Retry-After, retryDelay), if any
        self.retry_after = retry_after
        #: what the person can do about it
        self.hint = hint
        #: True until a token has been received on this attempt
        self.before_first_token = True

    @property
    def reason(self) -> str:
        """What happened and what to do, without the vessel's name (the log's ``error``)."""
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return f"{self.vessel}: {self.reason}" if self.vessel else self.reason


class MissingKey(VesselError):
    """The vessel needs an API key and none is configured."""

    kind = "missing_key"


class VesselUnavailable(VesselError):
    """The vessel could not be reached (connection refused, DNS, network)."""

    kind = "unavailable"


class VesselTimeout(VesselError):
    """A connect, first-token, idle or total time limit was exceeded."""

    kind = "timeout"


class AuthError(VesselError):
    """The provider rejected the credentials."""

    kind = "auth"


class ModelNotFound(VesselError):
    """The provider does not have the model (not pulled, misspelt, no access)."""

    kind = "model_not_found"


class RateLimited(VesselError):
    """The provider is rate limiting this key."""

    kind = "rate_limited"


class BillingError(VesselError):
    """The account has no quota or credit left (OpenAI's ``insufficient_quota``, sent as a
    429): not a short rate limit, so waiting a few seconds cannot help."""

    kind = "billing"


class ServerError(VesselError):
    """The provider failed or is overloaded (5xx, 529)."""

    kind = "server_error"


class BadRequest(VesselError):
    """The provider refused the request as malformed (other 4xx)."""

    kind = "bad_request"


class StreamError(VesselError):
    """The stream broke: an error event after HTTP 200, malformed data, or no terminator."""

    kind = "stream_error"


class AllVesselsFailed(VesselNBError, RuntimeError):
    """Every candidate vessel was skipped or failed. ``failures`` maps vessel -> error."""

    def __init__(self, summary: str, failures: dict[str, VesselError] | None = None, attempts=None):
        self.failures = dict(failures or {})
        self.attempts = list(attempts or [])
        lines = [summary] + [f"  • {err}" for err in self.failures.values()]
        super().__init__("\n".join(lines))


class NoLocalVessel(AllVesselsFailed):
    """A private or heartbeat call found no local vessel up; it was not sent anywhere."""


class StreamInterrupted(VesselNBError, RuntimeError):
    """A vessel failed after tokens had arrived. ``partial_text`` keeps what came."""

    def __init__(self, error: VesselError, partial_text: str, attempts=None):
        self.error = error
        self.partial_text = partial_text
        self.attempts = list(attempts or [])
        super().__init__(
            f"{error.vessel}: the answer broke off after {len(partial_text)} characters: "
            f"{error.message.rstrip('.')}. The partial text is in .partial_text; "
            "pass on_interrupt='restart' to retry such calls on the next vessel."
        )
