"""``[core] hostname_callable`` for the cluster test: each component names itself (``ZOHO_CLUSTER_HOST``).

Every process of the test runs on one machine; this makes each task instance's ``hostname`` and each
triggerer's job row say which worker or triggerer it was, as separate machines' names would.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("ZOHO_CLUSTER_HOST") or socket.getfqdn()
