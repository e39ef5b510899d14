"""Locust load of the production profile: each simulated user is one citizen's conversation.

Every user posts messages, one after the other with no think time (a closed loop, so the
figures are the stack's capacity at that concurrency), to the core listener of nginx
(``/webhooks/webchat/webhook``, the relay every channel uses). The mix is what citizens
send: greetings, guide questions answered from the knowledge base, and the first turns
of a booking. A reply that is not a JSON list of bot messages counts as a failure.
"""

from __future__ import annotations

import itertools
import os
import uuid

from locust import HttpUser, task

MESSAGES = ["你好", "办护照要带什么材料", "结婚登记需要什么", "社保卡丢了怎么补办", "我想预约办护照", "天河",
            "算了", "居住证怎么办理", "谢谢"]


class Citizen(HttpUser):
    """One conversation: its own sender id, messages in a fixed rotation."""

    def on_start(self) -> None:
        """A fresh conversation per simulated user."""
        self.sender = f"load-{uuid.uuid4().hex[:12]}"
        self.messages = itertools.cycle(MESSAGES)

    @task
    def say(self) -> None:
        """Send the next message and check the answer's shape."""
        token = os.environ.get("RELAY_TOKEN", "")  # the stack's relay token (bench/load/run.py passes it)
        with self.client.post("/webhooks/webchat/webhook", json={"sender": self.sender, "message": next(self.messages)},
                              name="message", catch_response=True, timeout=120,
                              headers={"X-Relay-Token": token}) as res:
            if res.status_code != 200:
                res.failure(f"HTTP {res.status_code}")
            elif not isinstance(res.json(), list):
                res.failure("not a list of bot messages")
