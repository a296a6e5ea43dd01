"""The Flex sandbox: a local, stateful stand-in for Flex's API, events and webhook delivery.

Public surface: :func:`run_sandbox` (everything on a free port, for tests and the CLI),
:func:`build_sandbox` (the ASGI app and its state, to serve yourself), :class:`Faults` and
:class:`RetryPolicy`. The merchant side never imports this package; it talks to it over HTTP.
"""

from flexfulfill.sandbox.app import build_sandbox
from flexfulfill.sandbox.faults import ApiFault, Faults
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.runner import RunningSandbox, new_test_key, run_sandbox

__all__ = [
    "ApiFault",
    "Faults",
    "RetryPolicy",
    "RunningSandbox",
    "build_sandbox",
    "new_test_key",
    "run_sandbox",
]
