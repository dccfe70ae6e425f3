"""Mail that comes to the bureau: replies, calendar answers and bounces."""
