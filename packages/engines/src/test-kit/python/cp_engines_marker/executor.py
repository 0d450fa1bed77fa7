"""Stands in for `python -m pyspark.daemon`: what an executor's Python worker sees."""
import json
import sys

from cp_engines_marker import report


def main(argv):
    out = report()
    out["argv"] = argv
    out["result"] = sum(x * x for x in range(int(argv[0]) if argv else 10))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
