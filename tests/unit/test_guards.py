"""The test suite's own guards (tests/conftest.py): no network in unit tests, model runs marked."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")  # pytest-socket warns as well as raising
def test_unit_tests_cannot_open_a_network_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("example.com", 443)


def test_unmarked_tests_have_model_runs_counted() -> None:
    import onnxruntime

    assert getattr(onnxruntime.InferenceSession.run, "model_marker_guard", False)
