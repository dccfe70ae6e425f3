"""Contracts: the agreement a booking's terms make, its versions, and the organizer's online
acceptance (issue 18). Routes and emails are wired by the bookings and staff pages."""
