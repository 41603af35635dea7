"""`python -m services.search rebuild`: ask the running search service to rebuild its index.

The rebuild runs inside the service (it owns the index writer and dual-writes live events while
it fills the new index), so this command is a thin RPC client.
"""

from __future__ import annotations

import argparse
import json

from nameko.standalone.rpc import ClusterRpcProxy

from shared.config import settings_or_exit
from shared.runtime.config import nameko_config


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.search")
    parser.add_argument("command", choices=["rebuild"])
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    settings = settings_or_exit()
    with ClusterRpcProxy(nameko_config(settings), timeout=args.timeout) as rpc:
        print(json.dumps(rpc.search.rebuild(), ensure_ascii=False))


if __name__ == "__main__":
    main()
