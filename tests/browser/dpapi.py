# SPDX-License-Identifier: LGPL-2.1-or-later
"""dpapi.py - deskpoold's REST API over TCP with a bearer token, for the
browser tests and bench/console.py (the one place they call it from)."""
import json
import urllib.error
import urllib.request


def call(base, method, path, token, body=None, timeout=60):
    """(HTTP status, parsed JSON answer) of METHOD BASE+PATH with TOKEN."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
