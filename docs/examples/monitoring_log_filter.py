"""A logging filter that keeps the records of one event of the library."""

import logging

# [start]

class RenewalFailures(logging.Filter):
    def filter(self, record):
        return getattr(record, "requests_multiauth_event", None) == "renewal.ahead"
# [end]

record = logging.LogRecord("requests_multiauth", logging.WARNING, __file__, 1, "renewal failed", None, None)
assert not RenewalFailures().filter(record)
record.requests_multiauth_event = "renewal.ahead"
assert RenewalFailures().filter(record)
