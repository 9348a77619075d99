"""Hooks of the API fuzz run (test/integration/api-fuzz.test.ts), loaded by schemathesis through SCHEMATHESIS_HOOKS.

A subscription makes keyrotor POST to its URL at every rotation, and the run rotates keys: whatever URL the fuzzer
makes up, its scheme, path and query go to the test's own receiver on loopback, never to another host.
"""

import os
import re

import schemathesis

RECEIVER = os.environ["KEYROTOR_FUZZ_RECEIVER"]  # "127.0.0.1:<port>"
AUTHORITY = re.compile(r"^(https?://)([^/?#]*)(.*)$", re.IGNORECASE | re.DOTALL)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.label != "POST /subscriptions" or not isinstance(case.body, dict):
        return
    url = case.body.get("url")
    if isinstance(url, str):
        match = AUTHORITY.match(url)
        if match:
            case.body["url"] = match.group(1) + RECEIVER + match.group(3)
