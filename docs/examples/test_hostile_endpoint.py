"""A user's tests of their own timeouts and limits, against a misbehaving token endpoint."""

# [start]
# test_timeouts.py
import time

import pytest

from requests_multiauth import AnswerTooLargeError, MalformedAnswerError, RetryPolicy, TokenTimeoutError
from requests_multiauth.testing import GzipBomb, MalformedStatus, Trickle


def test_a_trickling_token_endpoint_gives_up_in_time(cognito_provider):
    cognito_provider.inject(Trickle(interval=0.5), times=10)  # one byte every half second
    retry = RetryPolicy(attempts=2, backoff=0.1)
    auth = cognito_provider.auth(timeout=(1, 1), retry=retry)
    started = time.monotonic()
    with pytest.raises(TokenTimeoutError) as caught:
        auth.get_token()
    assert time.monotonic() - started <= retry.deadline((1, 1)) + 1
    assert caught.value.deadline == retry.deadline((1, 1))


def test_a_gzip_bomb_stops_at_the_cap(dataloy_provider):
    dataloy_provider.inject(GzipBomb())  # 1 GiB once decompressed
    with pytest.raises(AnswerTooLargeError) as caught:
        dataloy_provider.auth().get_token()
    assert caught.value.limit == 1024 * 1024


def test_broken_http_is_not_retried(opsnow_provider):
    opsnow_provider.inject(MalformedStatus("HTTP/1.1 2OO OK"))
    with pytest.raises(MalformedAnswerError):
        opsnow_provider.auth().get_token()
    assert opsnow_provider.token_calls == 1


# [end]
