"""Pure rules of the merchant side: no framework, driver or HTTP client is imported here."""
