#!/usr/bin/env python3
"""Container health check of a loa process (docker HEALTHCHECK and compose).

A gateway answers on LOA_HTTP_PORT (8000); a lone service (`loa serve media`) on LOA_HEALTH_PORT
(8081). The check asks both on 127.0.0.1 and passes when one answers 200 on LOA_HEALTHCHECK_PATH
(default /readyz). Standard library only: no curl in the image.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    path = os.environ.get("LOA_HEALTHCHECK_PATH", "/readyz")
    ports = [os.environ.get("LOA_HTTP_PORT", "8000"), os.environ.get("LOA_HEALTH_PORT", "8081")]
    errors = []
    for port in dict.fromkeys(p for p in ports if p and p != "0"):
        url = f"http://127.0.0.1:{port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - fixed host
                if response.status == 200:
                    return 0
                errors.append(f"{url}: {response.status}")
        except urllib.error.HTTPError as exc:
            errors.append(f"{url}: {exc.code}")
        except OSError as exc:
            errors.append(f"{url}: {exc}")
    print("; ".join(errors), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
