#!/usr/bin/env python3
"""Summarize a scripts/fstests.sh run: OUT/results.tsv and the per-test files.

    summary.py OUT        prints the table, writes OUT/summary.txt and OUT/summary.json

Per file system: passed, failed (fail, timeout, crash, error), not run;
each failure with the first lines of its diff (or of the fsck output in
.full, the .dmesg, the console); each not-run test with its reason. Then
the comparison: tests that fail on livedfs but pass on ext4, and the
not-run reasons livedfs has that ext4 does not.
"""
import json
import os
import re
import sys

DETAIL_LINES = 10
FAILED = ("fail", "timeout", "crash", "error")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def detail(out, fs, test, status, reason):
    """The first lines that show why a test failed."""
    base = os.path.join(out, fs, test)
    diff = read(base + ".diff").splitlines()
    if diff:
        body = [l for l in diff if not l.startswith(("---", "+++"))]
        return body[:DETAIL_LINES]
    full = read(base + ".full")
    if "inconsistent" in reason and "*** fsck" in full:
        sect = full[full.index("*** fsck"):].splitlines()[1:]
        sect = [l for l in sect if not l.startswith("*** end")]
        return sect[:DETAIL_LINES]
    dmesg = read(base + ".dmesg").splitlines()
    if dmesg:
        hits = [i for i, l in enumerate(dmesg)
                if re.search(r"WARNING|BUG|Oops|Call Trace|error|panic", l)]
        start = hits[0] if hits else 0
        return dmesg[start:start + DETAIL_LINES]
    console = read(base + ".console").splitlines()
    if console:
        hits = [i for i, l in enumerate(console)
                if re.search(r"BUG:|Oops|WARNING:|Kernel panic|general protection|blocked for more", l)]
        if hits:
            return console[hits[0]:hits[0] + DETAIL_LINES]
        return console[-DETAIL_LINES:]
    if status == "timeout" and full.strip():
        return ["(the end of .full)"] + full.splitlines()[-DETAIL_LINES:]
    header = re.compile(r"^(FSTYP|PLATFORM|MKFS_OPTIONS|MOUNT_OPTIONS|SECTION) +--")
    check = [l for l in read(base + ".check").splitlines()
             if l.strip() and not header.match(l)]
    return check[-DETAIL_LINES:]


def main():
    out = sys.argv[1]
    order = [l.strip() for l in read(os.path.join(out, "tests.txt")).splitlines() if l.strip()]
    results = {}  # test -> fs -> record; the last line for a (fs, test) wins
    fss = []
    for line in read(os.path.join(out, "results.tsv")).splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        fs, test, status, secs = parts[:4]
        reason = parts[4].strip() if len(parts) > 4 else ""
        if fs not in fss:
            fss.append(fs)
        results.setdefault(test, {})[fs] = {
            "status": status, "seconds": int(secs) if secs.isdigit() else None, "reason": reason}
        if test not in order:
            order.append(test)
    for line in read(os.path.join(out, "run.info")).splitlines():
        if line.startswith("file systems:"):
            fss += [f for f in line.split(":", 1)[1].split() if f not in fss]
    fss.sort(key=lambda f: (not f.startswith("livedfs"), f))
    for test, per in results.items():
        for fs, r in per.items():
            if r["status"] in FAILED:
                r["detail"] = detail(out, fs, test, r["status"], r["reason"])

    lines = []
    info = read(os.path.join(out, "run.info")).strip()
    if info:
        lines += ["fstests run (" + ", ".join(info.splitlines()) + ")", ""]
    counts = {}
    lines.append(f"{'':16} {'passed':>7} {'failed':>7} {'not run':>8} {'no result':>10}")
    for fs in fss:
        c = {"passed": 0, "failed": 0, "notrun": 0, "missing": 0}
        for test in order:
            r = results.get(test, {}).get(fs)
            if r is None:
                c["missing"] += 1
            elif r["status"] == "pass":
                c["passed"] += 1
            elif r["status"] == "notrun":
                c["notrun"] += 1
            else:
                c["failed"] += 1
        counts[fs] = c
        lines.append(f"{fs:16} {c['passed']:7} {c['failed']:7} {c['notrun']:8} {c['missing']:10}")
    for fs in fss:
        failed = [(t, results[t][fs]) for t in order
                  if fs in results.get(t, {}) and results[t][fs]["status"] in FAILED]
        notrun = [(t, results[t][fs]) for t in order
                  if fs in results.get(t, {}) and results[t][fs]["status"] == "notrun"]
        lines += ["", f"{fs}: {len(failed)} failed"]
        for t, r in failed:
            lines.append(f"  {t} {r['status']} ({r['seconds']}s): {r['reason']}")
            lines += ["      " + l for l in r.get("detail", [])]
        lines += ["", f"{fs}: {len(notrun)} not run"]
        for t, r in notrun:
            lines.append(f"  {t}: {r['reason']}")
        by_reason = {}
        for t, r in notrun:
            by_reason.setdefault(r["reason"], []).append(t)
        if by_reason:
            lines += ["", f"{fs}: not run, by reason"]
            for reason, ts in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                lines.append(f"  {len(ts):3}  {reason}")

    lines += ["", "per test (those with a result):", f"  {'test':14}" + "".join(f" {fs:16}" for fs in fss)]
    for t in order:
        if not results.get(t):
            continue
        cells = []
        for fs in fss:
            r = results.get(t, {}).get(fs)
            cells.append("-" if r is None else f"{r['status']} {r['seconds']}s")
        lines.append(f"  {t:14}" + "".join(f" {c:16}" for c in cells))

    # Each livedfs mode against ext4, keyed by its name
    # (fail_on_livedfs_pass_on_ext4, fail_on_livedfs_nodedup_pass_on_ext4).
    comparison = {}
    for lfs in [f for f in fss if f.startswith("livedfs")] if "ext4" in fss else []:
        worse = [t for t in order
                 if results.get(t, {}).get(lfs, {}).get("status") in FAILED
                 and results.get(t, {}).get("ext4", {}).get("status") == "pass"]
        ext4_reasons = {r["ext4"]["reason"] for r in results.values()
                        if r.get("ext4", {}).get("status") == "notrun"}
        only = {}
        for t in order:
            r = results.get(t, {}).get(lfs)
            if r and r["status"] == "notrun" and r["reason"] not in ext4_reasons:
                only.setdefault(r["reason"], []).append(t)
        key = lfs.replace("-", "_")
        comparison[f"fail_on_{key}_pass_on_ext4"] = worse
        comparison[f"notrun_reasons_{key}_only"] = only
        lines += ["", f"comparison: {len(worse)} tests fail on {lfs} and pass on ext4"]
        for t in worse:
            lines.append(f"  {t}: {results[t][lfs]['reason']}")
        n = sum(len(v) for v in only.values())
        lines.append(f"comparison: {len(only)} not-run reasons {lfs} has and ext4 does not ({n} tests)")
        for reason, ts in sorted(only.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(f"  {reason} ({len(ts)}: {' '.join(ts)})")

    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"info": info.splitlines(), "file_systems": fss, "counts": counts,
                   "tests": {t: results.get(t, {}) for t in order},
                   "comparison": comparison}, f, indent=1)
    sys.stdout.write(text)
    print(f"(written to {out}/summary.txt and summary.json)")


if __name__ == "__main__":
    main()
