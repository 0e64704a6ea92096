"""The HTTP gateway: aiohttp app factory `create_app(settings)`."""
