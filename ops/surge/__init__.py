"""Scripted surges: create buyers and events, fire bookings, check the invariants, report."""
