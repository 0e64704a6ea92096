"""HTTP handlers, one module per resource. Thin: parse, call the engine, answer."""
