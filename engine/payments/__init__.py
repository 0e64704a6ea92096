"""Payment providers: the `PaymentProvider` protocol, the built-in `fake`, and the registry
that picks one from the settings. The checkout that uses them is `engine/checkout.py`."""
