"""The currencies an event may be priced in, with their ISO 4217 minor-unit exponents.

Amounts are always integers in the currency's minor unit (cents for EUR, yen for JPY): the
exponent says how many decimals a display shows. Migration 0006 holds the same list as a
CHECK, so the database refuses what the API refuses.
"""

from __future__ import annotations

from decimal import Decimal

#: The default currency of an event.
DEFAULT_CURRENCY = "EUR"

#: ISO 4217 code -> exponent of its minor unit.
EXPONENTS: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2,
    "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0,
    "JPY": 0, "KRW": 0, "MXN": 2, "NOK": 2, "NZD": 2, "PLN": 2, "RON": 2, "SEK": 2,
    "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "ZAR": 2,
    "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}


def format_amount(minor: int, currency: str) -> str:
    """An amount in minor units as people read it: `1,250.00 EUR`, `1,250 JPY`,
    `1.250 KWD` (the currency's exponent decides the decimals)."""
    exponent = EXPONENTS[currency]
    return f"{Decimal(minor).scaleb(-exponent):,.{exponent}f} {currency}"
