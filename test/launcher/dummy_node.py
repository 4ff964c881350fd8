"""A stand-in node process for launcher tests: prints, then sleeps, exits or fails as its parameters say."""
import signal
import sys
import time

import yaml

from mesa_ros.nodes.runner import die_with_launcher


def main() -> None:
    name = sys.argv[sys.argv.index("-r") + 1].split(":=")[1]
    overrides = sys.argv[[i for i, a in enumerate(sys.argv) if a == "--params-file"][-1] + 1]
    params = yaml.safe_load(open(overrides))[name]["ros__parameters"]
    signal.signal(signal.SIGINT, lambda *_: (print(f"{name} got SIGINT", flush=True), sys.exit(0)))
    die_with_launcher()
    print(f"hello from {name} with {params}", flush=True)
    time.sleep(params.get("run_s", 60))
    sys.exit(params.get("exit_code", 0))


if __name__ == "__main__":
    main()
