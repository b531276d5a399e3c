"""Call workers: `serve`'s coordinator places whole attempts in worker processes, each with its own pjsua2."""
