"""A `SipEndpoint` in a process of its own, set up as `serve` sets it up, for hostile-input tests.

`python tests/telephony/sip_endpoint_process.py --transport udp|tcp --log FILE [--trunk-ip IP]`
starts the endpoint on a free 127.0.0.1 port with `serve`'s logging (JSON, masked) into FILE,
prints `{"event": "ready", "port": N, "max_calls": M}` and then answers one JSON line per stdin
line: `slots` -> `{"free_call_slots": F, "max_calls": M, "active_calls": A}`. EOF or SIGTERM stops it.
The call-slot count lives only inside the process that owns pjsua, hence the small control channel.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--log", required=True)
    parser.add_argument("--trunk-ip", default="127.0.0.2")
    args = parser.parse_args()

    from twisted.internet import reactor as _reactor
    from twisted.internet import stdio
    from twisted.protocols.basic import LineReceiver

    from config.server_config import CallSettings, ServerConfig, SipSettings, TrunkSettings
    from telemetry.logging import configure_logging
    from telephony.endpoint import SipEndpoint

    reactor: Any = _reactor
    log_file = open(args.log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as the process)
    configure_logging("INFO", "json", stream=log_file)
    config = ServerConfig(
        source=Path(args.log).with_suffix(".toml"),
        sip=SipSettings(bind_address="127.0.0.1", port=0, transport=args.transport),
        calls=CallSettings(recording_dir=Path(args.log).parent),
        trunks=(TrunkSettings(name="carrier", proxy=f"sip:{args.trunk_ip}:5999", caller_id="4000"),),
    )
    endpoint = SipEndpoint(config, reactor)

    class Control(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            if line.strip() == b"slots":
                self.reply({"free_call_slots": endpoint.free_call_slots, "max_calls": endpoint.max_calls,
                            "active_calls": endpoint.active_calls})
            else:
                self.reply({"error": f"unknown command {line!r}"})

        def reply(self, message: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

        def connectionLost(self, reason: Any = None) -> None:
            shutdown()

    stopping: list[bool] = []

    def shutdown() -> None:
        if stopping:
            return
        stopping.append(True)
        endpoint.stop().addBoth(lambda _: reactor.stop())

    def started(_: Any) -> None:
        sys.stdout.write(json.dumps({"event": "ready", "port": endpoint.local_port,
                                     "max_calls": endpoint.max_calls}) + "\n")
        sys.stdout.flush()
        stdio.StandardIO(Control())

    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(shutdown))
    def failed(failure: Any) -> None:
        print(failure.getErrorMessage(), file=sys.stderr)
        reactor.stop()

    endpoint.start().addCallbacks(started, failed)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
