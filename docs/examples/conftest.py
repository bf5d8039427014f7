"""The conftest.py of a user's test suite that uses the local providers."""

# [start]
# conftest.py (the top-level one of your test suite)
pytest_plugins = ["requests_multiauth.testing"]
# [end]
