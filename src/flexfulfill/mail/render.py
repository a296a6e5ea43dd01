"""Receipt templates (Jinja2, HTML and plain text) and the renderer built from them.

The stock templates live in ``flexfulfill/mail/templates``. A merchant overrides any of them by
putting a file of the same name in ``RECEIPT_TEMPLATES_DIR``; the others fall back to stock.
:func:`build_renderer` compiles every template and renders the sample receipts through them
with ``StrictUndefined``, so a typo or a missing variable stops start-up, not a send at 3 a.m.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from flexfulfill.domain.receipts import Receipt, ReceiptLine, ReceiptPayment
from flexfulfill.mail.amounts import format_cents, format_date, format_discount
from flexfulfill.mail.errors import RenderError, TemplateError
from flexfulfill.mail.samples import SAMPLES

SUBJECT, TEXT, HTML = "receipt_subject.txt", "receipt.txt", "receipt.html"
TEMPLATE_NAMES = (SUBJECT, TEXT, HTML)
NOT_ELIGIBLE = frozenset({"", "not_eligible"})


@dataclass(frozen=True)
class RenderedReceipt:
    """The three parts of one receipt message."""

    subject: str
    text: str
    html: str


class ReceiptRenderer:
    """Renders a :class:`Receipt` snapshot; build it with :func:`build_renderer`."""

    def __init__(self, environment: jinja2.Environment, merchant_name: str) -> None:
        self._env = environment
        self.merchant_name = merchant_name

    def render(self, receipt: Receipt) -> RenderedReceipt:
        """Subject, text and HTML of ``receipt``; :class:`RenderError` if a template fails."""
        try:
            subject, text, html = (self._render(name, receipt) for name in TEMPLATE_NAMES)
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
            raise RenderError(f"{_location(exc)}{type(exc).__name__}: {exc}") from exc
        return RenderedReceipt(" ".join(subject.split()), text, html)

    def _render(self, name: str, receipt: Receipt) -> str:
        template = self._env.get_template(name)
        return template.render(receipt=receipt, merchant_name=self.merchant_name)


def build_renderer(merchant_name: str, override_dir: Path | None = None) -> ReceiptRenderer:
    """The renderer, after every template compiled and rendered the samples; else TemplateError."""
    environment = _environment(override_dir)
    for name in TEMPLATE_NAMES:
        _compile(environment, name)
    renderer = ReceiptRenderer(environment, merchant_name)
    for sample in SAMPLES:
        try:
            renderer.render(sample)
        except RenderError as exc:
            raise TemplateError(f"receipt template failed on a sample receipt: {exc}") from exc
    return renderer


def _environment(override_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("flexfulfill.mail", "templates")]
    if override_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(override_dir))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[[Any], Any]] = {
        "money": format_cents,
        "discount": format_discount,
        "date": format_date,
        "card_label": card_label,
        "hsa_fsa_eligible": hsa_fsa_eligible,
    }
    env.filters.update({name: _strict(function) for name, function in filters.items()})
    return env


def _strict(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A filter that reports a misspelt variable by name instead of a confusing type error."""

    def apply(value: Any) -> Any:
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises UndefinedError, naming the missing variable
        return function(value)

    return apply


def _compile(environment: jinja2.Environment, name: str) -> None:
    try:
        environment.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or name
        raise TemplateError(f"{where}, line {exc.lineno}: {exc.message}") from exc
    except (jinja2.TemplateError, UnicodeDecodeError, OSError) as exc:
        raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from exc


def _location(exc: BaseException) -> str:
    """``receipt.html, line 12: `` for the innermost template frame of a render error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(_SUFFIXES)]
    return f"{frames[-1].filename}, line {frames[-1].lineno}: " if frames else ""


_SUFFIXES = tuple(TEMPLATE_NAMES)


def card_label(payment: ReceiptPayment) -> str:
    """``HSA/FSA card •••• 4242`` or ``Other card``: which part of a split cart a card paid."""
    kind = "HSA/FSA card" if payment.hsa_fsa else "Other card"
    return f"{kind} •••• {payment.card_last4}" if payment.card_last4 else kind


def hsa_fsa_eligible(line: ReceiptLine) -> bool:
    """Whether a line's product is HSA/FSA eligible (any category but ``not_eligible``)."""
    return (line.hsa_fsa_eligibility or "") not in NOT_ELIGIBLE
