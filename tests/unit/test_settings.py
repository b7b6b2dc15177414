"""Settings: layering, validation, and unknown keys named at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import SettingsError, as_dict, load_settings, masked_url

SECRET = {"SALON_SECRET": "s" * 32}


def test_defaults_then_file_then_env(tmp_path: Path) -> None:
    path = tmp_path / "salon.toml"
    path.write_text(
        '[server]\nport = 9000\nhost = "0.0.0.0"\n[media]\nrtp_ports = "40000-40010"\n'
        '[[media.ice_servers]]\nurls = ["turn:turn.example:3478"]\nusername = "u"\n'
        'credential = "c"\n'
    )
    settings = load_settings(
        path, env={**SECRET, "SALON_PORT": "9100", "SALON_ICE_ADDRESSES": "127.0.0.1, ::1"}
    )
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert (settings.media.rtp_port_min, settings.media.rtp_port_max) == (40000, 40010)
    assert settings.media.ice_addresses == ("127.0.0.1", "::1")
    assert settings.media.ice_servers[0].urls == ("turn:turn.example:3478",)


def test_no_ice_servers_by_default() -> None:
    assert load_settings(env=SECRET).media.ice_servers == ()


def test_media_is_forwarded_as_packets_unless_frames_are_asked_for() -> None:
    assert load_settings(env=SECRET).media.forwarding == "packets"
    env = {**SECRET, "SALON_MEDIA_FORWARDING": "frames"}
    assert load_settings(env=env).media.forwarding == "frames"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SALON_BOGUS": "1"}, "SALON_BOGUS"),
        ({"SALON_SERVER_PROT": "1"}, "'prot'"),
        ({"SALON_PORT": "eighty"}, "server.port"),
        ({"SALON_RTP_PORTS": "5000"}, "LO-HI"),
        ({"SALON_RTP_PORTS": "60000-50000"}, "media.rtp_ports"),
        ({"SALON_ICE_ADDRESSES": "example.com"}, "not an IP address"),
        ({"SALON_ENGAGEMENT_SCORER_ENABLED": "maybe"}, "scorer_enabled"),
        ({"SALON_ENGAGEMENT_SCORER_LINGER": "0.5"}, "engagement.scorer_linger"),
        ({"SALON_MEDIA_FORWARDING": "rtp"}, "media.forwarding 'rtp' must be one of"),
        ({"SALON_MEDIA_REMB_MIN_KBPS": "3000"}, "remb_min_kbps"),
        ({"SALON_SIGNALING_WRITE_WINDOW": "0.5"}, "signaling.write_window must be from 0"),
        ({"SALON_SIGNALING_WRITE_WINDOW": "-0.001"}, "signaling.write_window"),
    ],
)
def test_bad_settings_fail_with_the_key_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        load_settings(env={**SECRET, **env})


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "salon.toml"
    path.write_text("[redis]\nurl = 'redis://x'\ncolour = 'blue'\n")
    with pytest.raises(SettingsError, match="'colour'"):
        load_settings(path, env=SECRET)


def test_secret_is_required_and_masked() -> None:
    with pytest.raises(SettingsError, match="SALON_SECRET"):
        load_settings(env={})
    assert as_dict(load_settings(env=SECRET))["auth"]["secret"] == "***"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        (
            "rediss://salon:p%40ss:w@h:6380/1?ssl_cert_reqs=none",
            "rediss://salon:***@h:6380/1?ssl_cert_reqs=none",
        ),
        ("redis+cluster://u:pw@h1:7000,h2:7001", "redis+cluster://u:***@h1:7000,h2:7001"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://salon@h:6379", "redis://salon@h:6379"),
        ("redis://h:6379/0?next=a@b:c", "redis://h:6379/0?next=a@b:c"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_a_redis_password_is_masked_where_the_url_is_shown(url: str, shown: str) -> None:
    assert masked_url(url) == shown
    data = as_dict(load_settings(env={**SECRET, "SALON_REDIS_URL": url}))
    assert data["redis"]["url"] == shown


def test_a_secret_shorter_than_32_bytes_stops_start_up() -> None:
    """Issue 9: a 16-character SALON_SECRET was accepted, below the 32 bytes PyJWT asks for."""
    with pytest.raises(SettingsError, match=r"SALON_SECRET\) must be at least 32 bytes \(got 31\)"):
        load_settings(env={"SALON_SECRET": "s" * 31})
    assert load_settings(env={"SALON_SECRET": "s" * 32}).auth.secret == "s" * 32
