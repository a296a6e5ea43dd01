"""One logical Flex call: send, read, and retry what is safe to retry, within a deadline.

The API key lives only in the ``Authorization`` header of the private httpx client: no message,
log line or repr here ever includes headers, and exceptions are built from method, path,
status and Flex's own error text only.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from flexfulfill.clock import Clock
from flexfulfill.flex._errors import FlexError, NetworkError, error_from_response
from flexfulfill.flex._retry import RetryPolicy, parse_retry_after
from flexfulfill.flex._transport import KeepAliveTransport, Reply, make_transport, origin_of

log = logging.getLogger("flexfulfill.flex")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "flexfulfill (+https://github.com/flexfulfill)"


@dataclass(frozen=True)
class _Failure:
    """An attempt that did not succeed: the error to raise and whether trying again may help."""

    error: FlexError
    retryable: bool
    retry_after: float | None = None


# Connections kept open to Flex (see _transport.py). Measured with bench/fulfillment.py (1,000
# orders, sandbox on loopback, httpx's own pool): 8 connections 147 orders/s, 4: 122, 16: 91,
# 32: 75; httpx's default (100, of which 20 kept alive) closed and reopened them all the time.
# Requests beyond the pool wait for a free connection.
POOL = 8


class HTTPCore:
    """Sends requests for :class:`FlexClient`; owns the httpx client, the policy and the clock."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        retry: RetryPolicy,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
    ) -> None:
        self.retry = retry
        self.clock = clock
        self.timeout = timeout
        transport = transport or make_transport(POOL)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            transport=transport,
            timeout=timeout,
        )
        # The hot path: with the lean transport, requests skip httpx's client layers too.
        self._direct = (
            _Direct(transport, base_url, api_key)
            if isinstance(transport, KeepAliveTransport)
            else None
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The decoded JSON body of a 2xx answer (``None`` if empty), or a :class:`FlexError`.

        A POST always carries an ``Idempotency-Key`` (the caller's, else one made here), the
        same on every attempt; that key is what makes retrying a POST safe.
        """
        headers: dict[str, str] = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or f"ff_{uuid.uuid4().hex}"
        send = _Request(method, path, _clean(params), body, headers)
        return await self._with_retries(send)

    async def _with_retries(self, send: _Request) -> Any:
        started = self.clock.now()
        attempt = 1
        while True:
            remaining = self.retry.deadline - (self.clock.now() - started)
            outcome = await self._attempt(send, max(0.001, min(self.timeout, remaining)))
            if not isinstance(outcome, _Failure):
                return outcome.value
            wait = self.retry.wait(attempt, outcome.retry_after)
            if not self._may_retry(outcome, attempt, started, wait):
                raise outcome.error
            log.warning(
                "Flex %s failed (%s); retry %d of %d in %.2f s",
                send.what, outcome.error.problem, attempt, self.retry.max_attempts - 1, wait,
            )  # fmt: skip
            await self.clock.sleep(wait)
            attempt += 1

    def _may_retry(self, failure: _Failure, attempt: int, started: float, wait: float) -> bool:
        # Every POST carries an Idempotency-Key (see request), so every kind of call may be
        # retried: a POST that creates or charges is safe to repeat only under its key.
        if not failure.retryable or attempt >= self.retry.max_attempts:
            return False
        return self.clock.now() + wait - started <= self.retry.deadline

    async def _attempt(self, send: _Request, seconds: float) -> _Failure | _Decoded:
        try:
            if self._direct is not None:
                reply = await self._direct.send(send, seconds)
                if reply.header(b"content-encoding") in (None, "identity"):
                    log.debug("Flex %s answered %d", send.what, reply.status)
                    return self._judge(
                        send, reply.status, reply.header(b"retry-after"), reply.content
                    )
                response = await self._direct.as_response(reply)  # an encoding nobody asked for
            else:
                response = await self._http.request(
                    send.method,
                    send.path,
                    params=send.params,
                    json=send.body,
                    headers=send.headers,
                    timeout=seconds,
                )
        except httpx.TimeoutException as exc:
            return _network_failure(send, f"timed out after {seconds:g} s ({type(exc).__name__})")
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return _network_failure(send, f"failed: {type(exc).__name__}: {exc}")
        except httpx.TransportError as exc:  # proxy or protocol misuse: retrying cannot help
            failure = _network_failure(send, f"failed: {type(exc).__name__}: {exc}")
            return _Failure(failure.error, retryable=False)
        log.debug("Flex %s answered %d", send.what, response.status_code)
        return self._read(send, response)

    def _read(self, send: _Request, response: httpx.Response) -> _Failure | _Decoded:
        retry_after = response.headers.get("Retry-After")
        return self._judge(send, response.status_code, retry_after, response.content)

    def _judge(
        self, send: _Request, status: int, retry_after: str | None, content: bytes
    ) -> _Failure | _Decoded:
        body = _decode(content)
        if 200 <= status < 300:
            if isinstance(body, _NotJSON):
                problem = f"Flex answered {send.what} with {status} but a body that is not JSON."
                return _Failure(FlexError(problem, status=status), retryable=False)
            return _Decoded(body)
        after = parse_retry_after(retry_after, self.clock.now())
        error_body = body.text if isinstance(body, _NotJSON) else body
        error = error_from_response(send.what, status, error_body, retry_after=after)
        return _Failure(error, retryable=status in RETRYABLE_STATUSES, retry_after=after)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    params: dict[str, Any] | None
    body: Any
    headers: dict[str, str]

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class _Decoded:
    value: Any


@dataclass(frozen=True)
class _NotJSON:
    text: str


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return _NotJSON(content[:200].decode("utf-8", "replace"))


class _Direct:
    """Requests straight to the :class:`KeepAliveTransport`, without httpx's client layers.

    Profiled with bench/fulfillment.py, building an ``httpx.Request`` (URL merging and
    parsing), the cookie jar and the response's async byte iterators cost a worker more CPU
    per Flex GET than the HTTP exchange itself. The request here is the same one httpx would
    send, minus ``Accept-Encoding`` (so answers come uncompressed) and cookies (Flex sets none).
    """

    def __init__(self, transport: KeepAliveTransport, base_url: str, api_key: str) -> None:
        url = httpx.URL(base_url)
        self._transport = transport
        self._origin = origin_of(url)
        self._prefix = url.raw_path.rstrip(b"/")
        self._headers = [
            (b"host", url.netloc),
            (b"accept", b"*/*"),
            (b"user-agent", USER_AGENT.encode()),
            (b"authorization", f"Bearer {api_key}".encode("latin-1")),
        ]

    async def send(self, send: _Request, seconds: float) -> Reply:
        target = self._prefix + send.path.encode("ascii")
        if send.params:
            target += b"?" + urlencode(send.params).encode("ascii")
        headers = [*self._headers, *((k.encode(), v.encode()) for k, v in send.headers.items())]
        body = b""
        if send.body is not None:
            body = json.dumps(send.body, ensure_ascii=False, separators=(",", ":")).encode()
            headers += [(b"content-type", b"application/json")]
        headers += [(b"content-length", str(len(body)).encode())]
        timeouts: dict[str, float | None] = dict.fromkeys(("connect", "read", "pool"), seconds)
        return await self._transport.exchange(
            self._origin, send.method.encode(), target, headers, body, timeouts
        )

    @staticmethod
    async def as_response(reply: Reply) -> httpx.Response:
        response = httpx.Response(
            reply.status, headers=reply.headers, stream=httpx.ByteStream(reply.content)
        )
        await response.aread()  # decodes the content encoding
        return response


def _network_failure(send: _Request, problem: str) -> _Failure:
    return _Failure(NetworkError(f"Flex {send.what} {problem}."), retryable=True)


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the ``None`` ones; booleans spelled as Flex expects."""
    if not params:
        return None
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in params.items()
        if value is not None
    }
