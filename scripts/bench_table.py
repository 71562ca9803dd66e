"""Print a bench JSON (from scripts/bench.py) as one Markdown table of ratios."""
import json
import sys


def main(path: str) -> int:
    res = json.load(open(path))
    where = res.get('card') or f"{res['device']}, {res['threads']} threads"
    print(f"| row ({where}, torch {res['torch']}) | candidate | time ratio | memory ratio | goal |")
    print('|---|---|---|---|---|')
    for row, cands in res['rows'].items():
        for name, r in cands.items():
            goal = []
            if r['goal'] is not None:
                goal.append(f"time <= {r['goal']}x")
            if r['mem_goal'] is not None:
                goal.append(f"mem <= {r['mem_goal']}x")
            met = ('met' if r['met'] else 'missed') if goal else ''
            print(f"| {row} | {name} | {r['time_ratio']:.2f}x ({r['seconds'] * 1e3:.1f} ms) | "
                  f"{r['mem_ratio']:.2f}x | {', '.join(goal)} {met} |")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
