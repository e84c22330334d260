"""Generate a provider feed for the plans benchmarks.

    .venv/bin/python bench/plans_feed.py OUT.xml --base-events 5000 --events 1 --zones 200

Every base event is online; ``--variant`` raises every price by that much, so two feeds
with different variants update every plan. Dates spread over two years from
2021-01-01, one event every ``--spacing-minutes``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

START = datetime(2021, 1, 1, tzinfo=UTC)


def write_feed(
    path: Path, *, base_events: int, events: int, zones: int, variant: int = 0, spacing_minutes: int = 0
) -> int:
    """Write the feed to ``path``; return the number of plans it holds."""
    total = base_events * events
    spacing = timedelta(minutes=spacing_minutes or max(1, (2 * 365 * 24 * 60) // max(1, total)))
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0"><output>\n')
        for b in range(base_events):
            title = quoteattr(f"Plan {b} & friends")
            out.write(f'<base_event base_event_id="{b}" sell_mode="online" organizer_company_id="1" title={title}>\n')
            for e in range(events):
                out.write(_event(b * events + e, spacing, zones, variant))
            out.write("</base_event>\n")
        out.write("</output></eventList>\n")
    return total


def _event(index: int, spacing: timedelta, zones: int, variant: int) -> str:
    start = START + index * spacing
    end = start + timedelta(hours=1 + index % 3)
    fmt = "%Y-%m-%dT%H:%M:%S"
    parts = [
        f'<event event_start_date="{start:{fmt}}" event_end_date="{end:{fmt}}" event_id="{index}" '
        f'sell_from="2020-07-01T00:00:00" sell_to="{start:{fmt}}" sold_out="false">\n'
    ]
    for z in range(zones):
        price = 10 + variant + (index + z * 7) % 90
        numbered = "true" if z % 2 == 0 else "false"
        parts.append(
            f'<zone zone_id="{z}" capacity="{50 + z}" price="{price}.00" name="Zone {z}" numbered="{numbered}"/>\n'
        )
    parts.append("</event>\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base-events", type=int, default=5000)
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--variant", type=int, default=0)
    args = parser.parse_args()
    plans = write_feed(
        args.out, base_events=args.base_events, events=args.events, zones=args.zones, variant=args.variant
    )
    print(f"wrote {args.out}: {plans} plans, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
