"""Summarise taxi trips from a CSV and exit with the code the caller asks for (EXIT_CODE)."""
import csv
import os
import statistics
import sys


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "data/trips.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    km = [float(r["distance_km"]) for r in rows if r.get("distance_km")]
    print(f"{len(rows)} trips in {path}, median distance {statistics.median(km):.1f} km" if km else f"{len(rows)} trips in {path}")
    return int(os.environ.get("EXIT_CODE", "0"))


if __name__ == "__main__":
    sys.exit(main())
