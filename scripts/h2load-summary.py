"""One h2load run, summed up for the bench scripts (bench-ratios.sh,
bench-gate.sh):

    python3 scripts/h2load-summary.py BASE DURATION

reads BASE.txt (h2load's output) and BASE.log (its per-request log), writes
BASE.json with the calls per second and the p99 of the measured window's
last DURATION seconds, prints one line, and fails if any call was not
answered 2xx or failed (h2load sees HTTP statuses only; a refused gRPC call
is a 200 too, which the scripts check with a real call before and after).
"""
import json, re, sys
base, duration = sys.argv[1], float(sys.argv[2])
text = open(base + ".txt").read()
rate = float(re.search(r"finished in .*?, ([\d.]+) req/s", text).group(1))
done, ok, failed, errored, timeout = (int(x) for x in re.search(
    r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text).groups())
status_2xx = int(re.search(r"status codes: (\d+) 2xx", text).group(1))
rows = [line.split("\t") for line in open(base + ".log")]
end = max(int(r[0]) + int(r[2]) for r in rows)
window = [int(r[2]) for r in rows if int(r[0]) >= end - duration * 1e6]
window.sort()
p99_ms = window[min(len(window) - 1, int(0.99 * len(window)))] / 1000 if window else float("nan")
# h2load may count a few more 2xx statuses than calls done (those answered
# as the warm-up ended); only fewer means calls went unanswered.
bad = max(0, done - status_2xx) + failed + errored + timeout
json.dump({"calls_per_sec": rate, "p99_ms": p99_ms, "done": done, "not_2xx_or_failed": bad}, open(base + ".json", "w"))
print(f"    {base.rsplit('/', 1)[1]:<10} {rate:>10.0f} calls/s  p99 {p99_ms:7.3f} ms  ({done} done, {bad} not 2xx or failed)")
if bad: sys.exit(f"h2load: {bad} calls were not answered 2xx")
