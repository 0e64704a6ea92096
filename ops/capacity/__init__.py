"""The capacity model: per-component costs measured here, and the hosts a sale needs."""
