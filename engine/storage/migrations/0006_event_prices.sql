-- Paid events (issue 13): a price in the currency's minor unit, the currency (ISO 4217, the
-- list of engine/currencies.py) and how long a hold keeps seats out of sale while the buyer
-- pays. Existing events become free events in euros: nothing about them changes.
ALTER TABLE events
    ADD COLUMN price_cents  bigint  NOT NULL DEFAULT 0 CHECK (price_cents BETWEEN 0 AND 100000000000),
    ADD COLUMN currency     text    NOT NULL DEFAULT 'EUR' CHECK (currency IN (
        'AUD', 'BHD', 'BRL', 'CAD', 'CHF', 'CLP', 'CNY', 'CZK', 'DKK', 'EUR', 'GBP',
        'HKD', 'HUF', 'IDR', 'ILS', 'INR', 'ISK', 'JOD', 'JPY', 'KRW', 'KWD', 'MXN',
        'NOK', 'NZD', 'OMR', 'PLN', 'RON', 'SEK', 'SGD', 'THB', 'TND', 'TRY', 'TWD',
        'UAH', 'USD', 'ZAR')),
    ADD COLUMN hold_seconds integer NOT NULL DEFAULT 600
        CHECK (hold_seconds BETWEEN 10 AND 3600);
