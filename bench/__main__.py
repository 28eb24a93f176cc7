"""``python -m bench [--smoke] [--only NAME] [--servers daphne,uvicorn,granian] [--repeats N]
[--write]``."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
import traceback
from types import FrameType

from . import report
from .harness import Stack
from .processes import SERVERS
from .scenarios import SCENARIOS, Mode
from .stats import Row, build_rows, table


def _parse(argv: list[str]) -> argparse.Namespace:
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny counts, one repeat: checks the scripts work"
    )
    parser.add_argument(
        "--only", choices=names, action="append", help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs per scenario (default 5; 1 with --smoke)"
    )
    parser.add_argument(
        "--servers",
        type=_servers,
        default=None,
        help="run the scenarios on each of these ASGI servers in turn, e.g. "
        "daphne,uvicorn,granian (default: BENCH_SERVER, or daphne)",
    )
    parser.add_argument("--write", action="store_true", help="update the results in BENCHMARKS.md")
    return parser.parse_args(argv)


def _servers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"servers are among {', '.join(SERVERS)}")
    return names


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = _parse(argv)
    mode = Mode(smoke=args.smoke, repeats=1 if args.smoke else max(args.repeats, 1))
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    signal.signal(signal.SIGTERM, _stop)
    began = time.monotonic()
    rows: list[Row] = []
    failed: list[str] = []
    with Stack() as stack:
        for server in args.servers or [None]:
            if server is not None:
                stack.use_server(server)
            for scenario in chosen:
                title = scenario.title if server is None else f"{scenario.title} [{server}]"
                print(f"{title} ...", file=sys.stderr, flush=True)
                started = time.monotonic()
                stack.clear_tasks()
                try:
                    samples = scenario.run(stack, mode)
                except Exception:
                    traceback.print_exc()
                    failed.append(title)
                    continue
                rows += build_rows(title, scenario.metrics, samples)
                took = time.monotonic() - started
                print(f"  done in {took:.1f} s", file=sys.stderr, flush=True)
    seconds = time.monotonic() - began
    result = table(rows)
    print(result)
    print(f"\n{len(chosen)} scenarios, {mode.repeats} repeats each, {seconds:.0f} s", flush=True)
    if args.write:
        bench_env = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")]
        command = shlex.join([*bench_env, report.interpreter(), "-m", "bench", *argv])
        env = report.environment(command, seconds, mode.repeats)
        print(f"wrote {report.write(report.results_section(result, env))}")
    checks = [row for row in rows if row.verdict == "FAIL"]
    for row in checks:
        print(f"FAILED CHECK: {row.scenario}: {row.metric.label}", file=sys.stderr)
    if failed:
        print(f"scenarios that raised: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or checks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
