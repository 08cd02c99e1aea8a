"""Splitting, joining and masking the login of a proxy URL."""

from __future__ import annotations

import pytest

from aoa_proxy.proxyauth import join_login, mask_login, split_login


@pytest.mark.parametrize(
    ("url", "bare", "login", "shown"),
    [
        ("http://u:p@h:3128", "http://h:3128", "u:p", "http://u:****@h:3128"),
        ("socks5://u:p%40ss@h:1080", "socks5://h:1080", "u:p%40ss", "socks5://u:****@h:1080"),
        ("http://u:p@ss@h:1", "http://h:1", "u:p@ss", "http://u:****@h:1"),  # "@" not encoded
        ("http://token@h:1/", "http://h:1/", "token", "http://****@h:1/"),  # a bare token
        ("u:p@h:3128", "h:3128", "u:p", "u:****@h:3128"),  # no scheme (taken as http)
        ("http://[::1]:3128", "http://[::1]:3128", "", "http://[::1]:3128"),
        ("http://h:1/path?q=a@b", "http://h:1/path?q=a@b", "", "http://h:1/path?q=a@b"),
        ("", "", "", ""),
    ],
)
def test_split_join_and_mask(url: str, bare: str, login: str, shown: str) -> None:
    assert split_login(url) == (bare, login)
    assert join_login(bare, login) == url
    assert mask_login(url) == shown
