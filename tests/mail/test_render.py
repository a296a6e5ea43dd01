"""Receipt templates: the stock ones, merchant overrides, and broken overrides at build time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from mail_harness import plain_receipt, split_receipt, subscription_receipt

from flexfulfill.bootstrap import build_receipt_renderer
from flexfulfill.config import ConfigError, Settings
from flexfulfill.domain.receipts import ReceiptLine
from flexfulfill.mail import RenderError, TemplateError, build_renderer


def test_the_stock_templates_render_every_amount_of_a_split_cart() -> None:
    """Text and HTML carry lines, totals and each card's share, with the discount negative."""
    rendered = build_renderer("Acme Health").render(split_receipt())
    for part in (rendered.text, rendered.html):
        for expected in ("Acme Health", "FF-000002", "November 26, 2026", "Grace Hopper"):
            assert expected in part
        for expected in ("Blood pressure monitor", "$59.99", "Scented candle", "$12.50"):
            assert expected in part
        for expected in ("$25.00", "$84.99", "-$5.00", "$79.99", "$54.99", "1881", "0005"):
            assert expected in part
        assert "HSA/FSA card" in part
        assert "Other card" in part
    assert rendered.subject == "Your receipt from Acme Health — order FF-000002"


def test_a_plain_cart_shows_no_discount_row_and_no_subscription() -> None:
    """Optional sections stay out when there is nothing to show."""
    rendered = build_renderer("Acme Health").render(plain_receipt())
    assert "Discount" not in rendered.text
    assert "Subscription" not in rendered.text
    assert "split" not in rendered.text


def test_a_subscription_shows_its_period_and_next_renewal() -> None:
    """The period and the renewal date come from the snapshot's subscription."""
    text = build_renderer("Acme Health").render(subscription_receipt()).text
    assert "Billed every month" in text
    assert "Current period: November 26, 2026 – December 27, 2026" in text
    assert "Next renewal: December 27, 2026" in text


def test_html_escapes_what_the_customer_or_catalog_typed_and_text_does_not() -> None:
    """A product name with markup is escaped in HTML and left readable in plain text."""
    line = ReceiptLine("<b>Mask</b> & gloves", 1, 100, 100, None)
    rendered = build_renderer("Shop").render(replace(plain_receipt(), lines=(line,)))
    assert "&lt;b&gt;Mask&lt;/b&gt; &amp; gloves" in rendered.html
    assert "<b>Mask</b> & gloves" in rendered.text


def test_a_merchant_override_replaces_one_template_and_keeps_the_others(tmp_path: Path) -> None:
    """Files in the override directory win; missing ones fall back to stock."""
    (tmp_path / "receipt.txt").write_text(
        "Thanks from {{ merchant_name }}! Total {{ receipt.amount_total | money }}\n"
    )
    rendered = build_renderer("Acme", tmp_path).render(plain_receipt())
    assert rendered.text == "Thanks from Acme! Total $41.17\n"
    assert "Digital thermometer" in rendered.html


def test_a_template_with_a_syntax_error_fails_at_build_naming_file_and_line(
    tmp_path: Path,
) -> None:
    """A broken override stops the build with its path and line, not a send later."""
    (tmp_path / "receipt.html").write_text("<p>ok</p>\n<p>{{ receipt.order_number }</p>\n")
    with pytest.raises(TemplateError, match=r"receipt\.html, line 2: unexpected '}'"):
        build_renderer("Acme", tmp_path)


def test_a_template_using_an_unknown_variable_fails_at_build(tmp_path: Path) -> None:
    """StrictUndefined plus sample receipts catch a misspelt field before any send."""
    (tmp_path / "receipt.txt").write_text("Total {{ receipt.amount_totl | money }}\n")
    with pytest.raises(TemplateError, match=r"receipt\.txt, line 1: .*amount_totl"):
        build_renderer("Acme", tmp_path)


def test_a_template_formatting_a_float_fails_at_build(tmp_path: Path) -> None:
    """Passing dollars (a float) to the money filter is caught at build, not rounded."""
    (tmp_path / "receipt.txt").write_text("{{ (receipt.amount_total / 100) | money }}\n")
    with pytest.raises(TemplateError, match="integer cents"):
        build_renderer("Acme", tmp_path)


def test_start_up_turns_a_broken_template_into_a_configuration_error(tmp_path: Path) -> None:
    """bootstrap reports RECEIPT_TEMPLATES_DIR as the setting to fix."""
    (tmp_path / "receipt_subject.txt").write_text("{% if %}\n")
    settings = Settings(receipt_templates_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"RECEIPT_TEMPLATES_DIR: a receipt template is broken"):
        build_receipt_renderer(settings)


def test_a_payload_that_breaks_a_template_at_send_time_is_a_render_error() -> None:
    """A snapshot the samples did not foresee (a float amount) fails that receipt only."""
    broken = replace(plain_receipt(), amount_total=41.17)  # type: ignore[arg-type]
    with pytest.raises(RenderError, match=r"receipt\.(txt|html), line \d+: .*integer cents"):
        build_renderer("Acme").render(broken)
