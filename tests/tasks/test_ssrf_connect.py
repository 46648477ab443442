"""The SSRF guard also checks the address actually connected to (DNS rebinding)."""

from __future__ import annotations

import ipaddress
from typing import Any

from app.webhooks.sender import deliver
from app.webhooks.ssrf import check_address


def _guard(allow_private: bool) -> Any:
    return lambda ip: check_address(ipaddress.ip_address(ip), allow_private, [])


def test_a_connection_to_a_refused_address_sends_nothing(receiver: Any) -> None:
    url = f"{receiver.url}/hook"
    refused = deliver(url, "whsec_" + "A" * 32, "msg_1", {"x": 1}, 5.0, guard=_guard(False))
    assert refused.outcome == "fail" and refused.error.startswith("refused: address 127.0.0.1")
    assert receiver.received() == []
    allowed = deliver(url, "whsec_" + "A" * 32, "msg_2", {"x": 2}, 5.0, guard=_guard(True))
    assert allowed.outcome == "ok" and len(receiver.received()) == 1
