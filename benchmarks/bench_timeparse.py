"""How fast parse_when reads typical English and Korean inputs (prints figures; not a test)."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.timeparse import EXAMPLES_EN, EXAMPLES_KO, WhenError, parse_when

INPUTS = (*EXAMPLES_EN, *EXAMPLES_KO, "9pm", "saturday 8pm", "오늘 밤 10시", "모레 오후 3시", "8", "asdf")
ROUNDS = 200


def main() -> None:
    zone = ZoneInfo("Asia/Seoul")
    now = datetime(2026, 11, 28, 15, 0, tzinfo=zone)
    parse_when("tomorrow 9pm", zone=zone, now=now)  # load dateparser's language data once
    per_input: dict[str, list[float]] = {text: [] for text in INPUTS}
    for _ in range(ROUNDS):
        for text in INPUTS:
            started = time.perf_counter()
            try:
                parse_when(text, zone=zone, now=now)
            except WhenError:
                pass
            per_input[text].append(time.perf_counter() - started)
    every = [seconds for timings in per_input.values() for seconds in timings]
    print(f"{len(every)} parses: median {statistics.median(every) * 1e3:.3f} ms, "
          f"p99 {statistics.quantiles(every, n=100)[98] * 1e3:.3f} ms, {len(every) / sum(every):.0f} parses/s")
    for text, timings in per_input.items():
        print(f"  {statistics.median(timings) * 1e3:7.3f} ms  {text}")


if __name__ == "__main__":
    main()
