"""Invoices and payments: what the organizer owes for a booking, and what was paid."""
