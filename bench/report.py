#!/usr/bin/env python3
"""Turn the JSON lines of bench/run.sh into report.md and gnuplot data.

usage: report.py OUT_DIR "LEVELS"

Reads OUT_DIR/results.jsonl and OUT_DIR/machine.txt, writes
OUT_DIR/report.md (also printed) and OUT_DIR/plot/*.dat. Every figure
is the median of the runs of one measurement; errors are summed and peak
RSS is the maximum over the runs.
"""

import collections
import json
import os
import statistics
import sys

LIMIT_TARGET = 0.85  # limit CPU/op divided by server CPU/request
CFSSL_TARGET = 1.25  # HSM4SSL req/s divided by CFSSL req/s
P99_FACTOR = 1.5     # p99 at 100 clients vs 1.5 * (100 / req/s)
TARGET_LEVELS = (10, 50, 100)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=3):
    """Format with `digits` significant digits, or '-' when missing."""
    if value is None:
        return "-"
    if value >= 10 ** digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def load(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def summarize_http(rows):
    """Group HTTP runs by (system, key, tool, clients) into medians."""
    groups = collections.defaultdict(list)
    for row in rows:
        if "clients" in row and "requests" in row:
            groups[(row["system"], row["key"], row["tool"],
                    row["clients"])].append(row)
    summary = {}
    for group, runs in groups.items():
        summary[group] = {
            "rps": median([r["rps"] for r in runs]),
            "p50_ms": median([r["p50_ms"] for r in runs]),
            "p99_ms": median([r["p99_ms"] for r in runs]),
            "cpu_ms": median([1000 * r["server_cpu_s"] / r["requests"]
                              for r in runs if r["requests"] > 0]),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "rss_mib": max(r["server_peak_rss_kib"] for r in runs) / 1024,
            "runs": len(runs),
        }
    return summary


def summarize_limits(rows):
    """Group sign_limit runs by (key, signer, work, threads)."""
    groups = collections.defaultdict(list)
    for row in rows:
        if row.get("system") == "limit":
            groups[(row["key"], row["signer"], row["work"],
                    row["threads"])].append(row)
    return {group: {"ops": median([r["ops_per_s"] for r in runs]),
                    "cpu_ms": median([1000 * r["cpu_s_per_op"]
                                      for r in runs])}
            for group, runs in groups.items()}


def floor_cpu(limits, key, work):
    """Lowest median CPU ms per op of the raw signer over thread counts."""
    values = [v["cpu_ms"] for (k, signer, w, _), v in limits.items()
              if k == key and signer == "raw" and w == work]
    return min(values) if values else None


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def http_table(http, limits, keys, levels, tool):
    lines = [
        f"### Issuance over HTTPS, {tool}",
        "",
        "| CA key | clients | HSM4SSL req/s | p50 ms | p99 ms | errors "
        "| CPU ms/req | peak RSS MiB | CFSSL req/s | p50 ms | p99 ms "
        "| errors | CPU ms/req | peak RSS MiB | HSM4SSL/CFSSL req/s "
        "| limit/HSM4SSL CPU | raw C_Sign/HSM4SSL CPU |",
        "|" + "---|" * 17,
    ]
    for key in keys:
        limit_cpu = floor_cpu(limits, key, "verify+sign")
        sign_cpu = floor_cpu(limits, key, "sign")
        for clients in levels:
            h = http.get(("hsm4ssl", key, tool, clients))
            c = http.get(("cfssl", key, tool, clients))
            if h is None and c is None:
                continue
            h = h or {}
            c = c or {}
            lines.append(
                f"| {key} | {clients} | {fmt(h.get('rps'))} "
                f"| {fmt(h.get('p50_ms'))} | {fmt(h.get('p99_ms'))} "
                f"| {h.get('errors', '-')} | {fmt(h.get('cpu_ms'))} "
                f"| {fmt(h.get('rss_mib'))} | {fmt(c.get('rps'))} "
                f"| {fmt(c.get('p50_ms'))} | {fmt(c.get('p99_ms'))} "
                f"| {c.get('errors', '-')} | {fmt(c.get('cpu_ms'))} "
                f"| {fmt(c.get('rss_mib'))} "
                f"| {fmt(ratio(h.get('rps'), c.get('rps')), 2)} "
                f"| {fmt(ratio(limit_cpu, h.get('cpu_ms')), 2)} "
                f"| {fmt(ratio(sign_cpu, h.get('cpu_ms')), 2)} |")
    return lines + [""]


def limit_table(limits, keys):
    lines = [
        "### Limit: sign_limit on the same token",
        "",
        "| CA key | signer | work | threads | op/s | CPU ms/op |",
        "|---|---|---|---|---|---|",
    ]
    for key in keys:
        for (k, signer, work, threads), v in sorted(limits.items()):
            if k == key:
                lines.append(f"| {key} | {signer} | {work} | {threads} "
                             f"| {fmt(v['ops'])} | {fmt(v['cpu_ms'])} |")
    return lines + [""]


def openssl_table(rows, keys):
    lines = [
        "### One `openssl x509 -req` process per certificate",
        "",
        "| CA key | certificates/s | CPU ms/certificate | runs |",
        "|---|---|---|---|",
    ]
    for key in keys:
        runs = [r for r in rows
                if r.get("system") == "openssl-x509" and r["key"] == key]
        if runs:
            rps = median([r["rps"] for r in runs])
            cpu = median([1000 * r["cpu_s"] / r["certificates"]
                          for r in runs])
            lines.append(f"| {key} | {fmt(rps)} | {fmt(cpu)} "
                         f"| {len(runs)} x {runs[0]['certificates']} |")
    return lines + [""]


def transport_floor_lines(http, limits, keys, levels):
    """Return the report lines comparing GET /healthz with issuance.

    The limit's work plus GET /healthz's CPU is what a server would spend
    that did nothing else (no certificate encoding, storage or audit), and
    the table gives the best limit/CPU ratio such a server could reach."""
    lines = [
        "### Transport floor: GET /healthz, wrk",
        "",
        "GET /healthz needs no HSM, no storage and no handler thread: its "
        "CPU is what TLS, HTTP and the event loop cost for one request.",
        "",
        "| CA key | clients | /healthz req/s | /healthz CPU ms/req "
        "| limit CPU ms | limit + floor ms | best possible limit/CPU "
        "| HSM4SSL CPU ms/req | HSM4SSL above limit + floor ms |",
        "|" + "---|" * 9,
    ]
    found = False
    for key in keys:
        limit_cpu = floor_cpu(limits, key, "verify+sign")
        for clients in levels:
            f = http.get(("hsm4ssl-healthz", key, "wrk", clients))
            h = http.get(("hsm4ssl", key, "wrk", clients)) or {}
            if f is None:
                continue
            found = True
            both = (limit_cpu + f["cpu_ms"]
                    if limit_cpu is not None and f["cpu_ms"] is not None
                    else None)
            above = (h["cpu_ms"] - both
                     if both is not None and h.get("cpu_ms") is not None
                     else None)
            lines.append(
                f"| {key} | {clients} | {fmt(f['rps'])} "
                f"| {fmt(f['cpu_ms'])} | {fmt(limit_cpu)} | {fmt(both)} "
                f"| {fmt(ratio(limit_cpu, both), 2)} "
                f"| {fmt(h.get('cpu_ms'))} | {fmt(above)} |")
    return lines + [""] if found else []


def lowest(values):
    """The smallest value, or None when any is missing."""
    if not values or None in values:
        return None
    return min(values)


def verdict(value, target):
    if value is None:
        return "not measured"
    if value >= target:
        return f"met ({value:.2f} >= {target})"
    return f"NOT met ({value:.2f}, {100 * (1 - value / target):.0f} % short)"


def target_lines(http, limits, keys, tools):
    lines = ["### Targets", ""]
    for tool in tools:
        for key in keys:
            limit_cpu = floor_cpu(limits, key, "verify+sign")
            cpu_ratios, rps_ratios = [], []
            for clients in TARGET_LEVELS:
                h = http.get(("hsm4ssl", key, tool, clients))
                c = http.get(("cfssl", key, tool, clients))
                if h:
                    cpu_ratios.append(ratio(limit_cpu, h["cpu_ms"]))
                if h and c:
                    rps_ratios.append(ratio(h["rps"], c["rps"]))
            h100 = http.get(("hsm4ssl", key, tool, 100))
            lines.append(f"- {key}, {tool}: limit/HSM4SSL CPU at 10..100 "
                         f"clients (lowest): "
                         f"{verdict(lowest(cpu_ratios), LIMIT_TARGET)}; "
                         f"HSM4SSL/CFSSL req/s (lowest): "
                         f"{verdict(lowest(rps_ratios), CFSSL_TARGET)}; "
                         + p99_text(h100))
    return lines + [""]


def p99_text(h100):
    if not h100 or not h100["rps"]:
        return "p99 at 100 clients: not measured"
    bound = P99_FACTOR * 100 / h100["rps"] * 1000
    state = "met" if h100["p99_ms"] <= bound else "NOT met"
    return (f"p99 at 100 clients {h100['p99_ms']:.0f} ms vs "
            f"1.5 * 100 / req/s = {bound:.0f} ms: {state}")


def extra_lines(http, rows, keys):
    lines = []
    counts = [r for r in rows if r.get("system") == "stored-count"]
    for count in counts:
        key = count["key"]
        lines += [f"### Issuance with {count['certificates']} stored "
                  f"certificates ({key}, wrk)", "",
                  "| clients | req/s | p99 ms | CPU ms/req "
                  "| req/s in the main run |", "|---|---|---|---|---|"]
        for clients in (10, 100):
            s = http.get((f"hsm4ssl-stored-{count['stored']}", key, "wrk",
                           clients))
            base = http.get(("hsm4ssl", key, "wrk", clients)) or {}
            if s:
                lines.append(f"| {clients} | {fmt(s['rps'])} "
                             f"| {fmt(s['p99_ms'])} | {fmt(s['cpu_ms'])} "
                             f"| {fmt(base.get('rps'))} |")
        lines.append("")
    for idle in (r for r in rows if r.get("system") == "idle"):
        grown = (idle["rss_idle_kib"] - idle["rss_before_kib"]) / 1024
        lines += [f"### Idle keep-alive connections ({idle['key']})", "",
                  f"- {idle['answered']} of {idle['connections']} "
                  f"connections answered ({idle['failed']} failed, "
                  f"{idle.get('closed_by_server', '-')} closed by the "
                  f"server while idle)",
                  f"- server RSS {idle['rss_before_kib'] / 1024:.1f} MiB "
                  f"before, {idle['rss_idle_kib'] / 1024:.1f} MiB with them "
                  f"open: {grown:.1f} MiB, "
                  f"{1024 * grown / max(idle['answered'], 1):.1f} KiB per "
                  f"connection",
                  f"- GET /healthz on a new connection meanwhile: "
                  f"{fmt(idle['healthz_s'] and idle['healthz_s'] * 1000)} ms",
                  ""]
    return lines


CRL_SECONDS_TARGET = 10
OCSP_RPS_TARGET = 10000


def lifecycle_lines(out_dir):
    """Return the report lines of the CRL build (--crl) and the OCSP
    rates (--ocsp), when they ran, with their targets."""
    lines = []
    crl_path = os.path.join(out_dir, "crl.json")
    if os.path.exists(crl_path):
        with open(crl_path, encoding="utf-8") as f:
            crl = json.load(f)
        state = "met" if crl["median_s"] <= CRL_SECONDS_TARGET else "NOT met"
        lines += [f"### CRL of {crl['entries']} revoked certificates "
                  f"({crl['key']})", "",
                  f"- build and sign: median {fmt(crl['median_s'])} s of "
                  f"{', '.join(fmt(x) for x in crl['runs_s'])} "
                  f"(target <= {CRL_SECONDS_TARGET} s: {state})",
                  f"- {crl['der_bytes']} bytes of DER, peak RSS "
                  f"{crl['peak_rss_kib'] / 1024:.1f} MiB; filling the "
                  f"database took {fmt(crl['fill_s'])} s (not counted)", ""]
    ocsp_path = os.path.join(out_dir, "ocsp.json")
    if os.path.exists(ocsp_path):
        with open(ocsp_path, encoding="utf-8") as f:
            ocsp = json.load(f)
        lines += ["### OCSP responses (wrk, medians)", "",
                  "| requests | clients | responses/s | p99 ms "
                  "| server CPU us/response | errors |",
                  "|---|---|---|---|---|---|"]
        for row in ocsp:
            kind = ("no nonce, cached" if row["system"] == "ocsp-cached"
                    else "with a nonce, signed")
            lines.append(f"| {kind} | {row['clients']} "
                         f"| {fmt(row['median_rps'])} "
                         f"| {fmt(row['median_p99_ms'])} "
                         f"| {fmt(row['median_cpu_us_per_response'])} "
                         f"| {row['errors']} |")
        cached = [r["median_rps"] for r in ocsp
                  if r["system"] == "ocsp-cached" and r["clients"] >= 10]
        if cached:
            low = min(cached)
            state = "met" if low >= OCSP_RPS_TARGET else "NOT met"
            lines += ["", f"- cached responses at 10 clients and more: "
                      f"lowest {fmt(low)}/s (target >= "
                      f"{OCSP_RPS_TARGET}/s: {state})"]
        lines.append("")
    return lines


def write_plot_data(out_dir, http):
    plot_dir = os.path.join(out_dir, "plot")
    os.makedirs(plot_dir, exist_ok=True)
    series = collections.defaultdict(list)
    for (system, key, tool, clients), v in http.items():
        series[(system, key, tool)].append((clients, v))
    for (system, key, tool), points in series.items():
        name = f"{system}-{tool}-{key.replace(':', '')}.dat"
        with open(os.path.join(plot_dir, name), "w", encoding="utf-8") as f:
            f.write("# clients req/s p50_ms p99_ms\n")
            for clients, v in sorted(points, key=lambda p: p[0]):
                f.write(f"{clients} {v['rps']:.2f} {v['p50_ms']:.3f} "
                        f"{v['p99_ms']:.3f}\n")


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: report.py OUT_DIR "LEVELS"')
    out_dir = sys.argv[1]
    levels = [int(x) for x in sys.argv[2].split()]
    rows = load(os.path.join(out_dir, "results.jsonl"))
    keys = list(dict.fromkeys(r["key"] for r in rows if "key" in r))
    tools = list(dict.fromkeys(r["tool"] for r in rows if "tool" in r))
    http = summarize_http(rows)
    limits = summarize_limits(rows)
    with open(os.path.join(out_dir, "machine.txt"), encoding="utf-8") as f:
        machine = f.read().rstrip("\n").split("\n")
    lines = ["## Machine", "", "```"] + machine + ["```", ""]
    for tool in tools:
        lines += http_table(http, limits, keys, levels, tool)
    lines += target_lines(http, limits, keys, tools)
    lines += transport_floor_lines(http, limits, keys, levels)
    lines += limit_table(limits, keys)
    lines += openssl_table(rows, keys)
    lines += extra_lines(http, rows, keys)
    lines += lifecycle_lines(out_dir)
    text = "\n".join(lines)
    with open(os.path.join(out_dir, "report.md"), "w",
              encoding="utf-8") as f:
        f.write(text)
    write_plot_data(out_dir, http)
    print(text)


if __name__ == "__main__":
    main()
