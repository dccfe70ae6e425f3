"""Demo data: the catalogue from the bureau's weblog, the staff desks and routing rules, and a
booking history played through the real workflow. Only the ``bureau`` command loads it."""
