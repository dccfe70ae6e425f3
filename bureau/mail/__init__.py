"""Email: the notification log, message composition, and SMTP or local-file delivery."""
