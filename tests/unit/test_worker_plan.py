"""The plan of ``salon serve --workers N`` (server/cli/workers.py): the worker count, the
UDP ranges carved out of media.rtp_ports, and each worker's settings."""

from __future__ import annotations

import os
import socket

import pytest

from server.cli.workers import MIN_RTP_PORTS, split_rtp_ports, worker_count, worker_settings
from server.settings import Settings, SettingsError, load_settings

SECRET = "worker-plan-secret-0123456789abcdef"


def on_port_9000(**overrides: str) -> Settings:
    return load_settings(
        env={}, overrides={"auth.secret": SECRET, "server.port": 9000, **overrides}
    )


def test_worker_count_takes_a_number_or_auto() -> None:
    assert worker_count("3") == 3
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "65", "two", ""):
        with pytest.raises(SettingsError, match="--workers"):
            worker_count(bad)


def test_the_udp_range_is_cut_into_adjacent_shares_the_last_taking_the_rest() -> None:
    assert split_rtp_ports(40000, 40100, 2) == [(40000, 40049), (40050, 40100)]
    assert split_rtp_ports(40000, 40023, 3) == [(40000, 40007), (40008, 40015), (40016, 40023)]
    assert split_rtp_ports(0, 0, 4) == [(0, 0)] * 4
    with pytest.raises(SettingsError, match="too few for 3 workers"):
        split_rtp_ports(40000, 40000 + 3 * MIN_RTP_PORTS - 2, 3)


def test_each_worker_is_its_own_node_in_cluster_mode_with_its_share() -> None:
    base = on_port_9000(**{"server.host": "0.0.0.0", "media.rtp_ports": "40000-40099"})
    w1 = worker_settings(base, 2, 1, 45123)
    assert w1.node.id == f"{socket.gethostname()}-9000-w1"
    assert w1.node.advertised_url == "http://127.0.0.1:45123"
    assert (w1.media.rtp_port_min, w1.media.rtp_port_max) == (40050, 40099)
    assert (w1.node.own_rooms, w1.rooms.state) == (True, "redis")
    assert (w1.server.host, w1.server.port) == ("0.0.0.0", 9000)
    # One worker changes nothing but its id and URL; an operator's host is kept.
    named = on_port_9000(**{"node.id": "edge", "node.advertised_url": "http://10.0.0.5:9000"})
    only = worker_settings(named, 1, 0, 45000)
    assert (only.node.id, only.node.advertised_url) == ("edge-w0", "http://10.0.0.5:45000")
    assert (only.node.own_rooms, only.rooms.state) == (False, "memory")
    with pytest.raises(SettingsError, match="worker index 2"):
        worker_settings(named, 2, 2, 45000)
