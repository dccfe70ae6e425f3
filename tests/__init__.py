"""Bureau test suite; mirrors the bureau package."""
