"""Reports of a run: results.json (every figure), latency_samples.json, summary.md, PNG plots.

Every number written here comes from the run's own measurements; ratios are computed from them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from native_bench.variants import DESCRIPTIONS, SAME_CHAIN

CEILING_READERS = ("pg_recvlogical", "raw-eager", "raw-bulk")


def _ok(fig: dict | None) -> bool:
    return bool(fig) and "rows_per_s" in fig


def ratios(results: dict) -> dict:
    """Per workload: the stream ceiling (fastest reader), pgbridge / ceiling and / Debezium.

    With --repeat, a ratio is the median over rounds of the ratio within each round: the
    systems of one round run minutes apart at most, while the machine's speed drifts between
    rounds, so comparing one system's median round with another's would mix those drifts."""
    out = {}
    for name, wl in results["workloads"].items():
        sysfigs = wl["systems"]
        readers = [f for s, f in sysfigs.items() if s in CEILING_READERS and _ok(f)]
        ceiling = max(((s, f["rows_per_s"]) for s, f in sysfigs.items() if s in CEILING_READERS and _ok(f)),
                      key=lambda x: x[1], default=(None, None))
        entry = {"ceiling_system": ceiling[0], "ceiling_rows_per_s": ceiling[1]}
        if _ok(sysfigs.get("server-decode")):
            entry["server_decode_rows_per_s"] = sysfigs["server-decode"]["rows_per_s"]
        if _ok(sysfigs.get("decoder-only")) and ceiling[1]:
            entry["decoder_only_over_ceiling"] = over(sysfigs["decoder-only"], readers)
        for s, f in sysfigs.items():
            if not s.startswith("pgbridge") or not _ok(f):
                continue
            r = {}
            if ceiling[1]:
                r["over_ceiling"] = over(f, readers)
            for d in ("debezium-json", "debezium-json-schemas", *SAME_CHAIN.get(s, ())):
                if _ok(sysfigs.get(d)):
                    r[f"over_{d}"] = over(f, [sysfigs[d]], 2)
            entry[s] = r
        out[name] = entry
    return out


def over(fig: dict, others: list[dict], digits: int = 3) -> float:
    """`fig`'s rows/s over the fastest of `others`: per round and the median of those when
    every one has the same rounds (`rows_per_s_rounds`), else over the figures themselves."""
    rounds = [f.get("rows_per_s_rounds") for f in [fig, *others]]
    if all(rounds) and len({len(r) for r in rounds}) == 1:
        per_round = []
        for mine, *theirs in zip(*rounds):
            best = max((t for t in theirs if t), default=None)
            if mine and best:
                per_round.append(mine / best)
        if per_round:
            per_round.sort()
            middle = len(per_round) // 2
            value = per_round[middle] if len(per_round) % 2 else (per_round[middle - 1] + per_round[middle]) / 2
            return round(value, digits)
    return round(fig["rows_per_s"] / max(f["rows_per_s"] for f in others), digits)


def _fmt(v, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:,.{digits}f}"
    return str(v)


def summary_md(results: dict) -> str:
    meta = results["meta"]
    host = meta["host"]
    rat = results.get("ratios", {})
    lines = [
        f"# pgbridge benchmark — {meta['date'][:10]}",
        "",
        f"Machine: {host['cores']} cores ({host['cpu']}), {host['memory_gb']} GB RAM, {host['os']}; "
        f"load average (1/5/15 min) {'/'.join(map(str, host['load_average_at_start']))} at start, "
        f"{'/'.join(map(str, host.get('load_average_at_end', ['?'])))} at end. "
        f"PostgreSQL {meta['postgresql']['version']}, Kafka {meta['kafka']['version']} (one broker), "
        f"Debezium {meta['debezium']['connector_version']} on Kafka Connect {meta['debezium']['connect_runtime_version']} "
        f"({meta['debezium']['java']}), pgbridge {meta['pgbridge']['version']} "
        f"(git {meta['pgbridge']['commit']}{', uncommitted changes' if meta['pgbridge']['dirty'] else ''}), "
        f"Python {meta['python']}. PostgreSQL, Kafka and the system under test share the machine; "
        "systems run one after another over the same WAL.",
        "",
        f"Command: `{results['config']['command']}` (size `{results['config']['size']}`, "
        f"whole run {results['wall_seconds']:.0f} s)."
        + (f" Each system streamed each workload {results['config']['repeat']} times, in alternating rounds; "
           "the figures are its median round's, every round's rows/s is in results.json (`rows_per_s_rounds`)."
           if results["config"].get("repeat", 1) > 1 else ""),
        "",
        "| workload | system | rows/s | × ceiling | latency p50 / p95 / p99 ms | CPU µs / row | peak RSS MB "
        "| Kafka bytes / row | key+value bytes / row |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, wl in results["workloads"].items():
        ceiling = rat.get(name, {}).get("ceiling_rows_per_s")
        for s, f in wl["systems"].items():
            if "error" in f:
                lines.append(f"| {name} | {s} | error: {f['error'][:80]} | | | | | | |")
                continue
            lat = f.get("latency_ms")
            lat_s = f"{_fmt(lat['p50'], 1)} / {_fmt(lat['p95'], 1)} / {_fmt(lat['p99'], 1)}" if lat else "–"
            over = _fmt(f["rows_per_s"] / ceiling, 2) if ceiling and f.get("rows_per_s") else "–"
            label = s + (" ¹" if s == "server-decode" else "")
            lines.append(
                f"| {name} | {label} | {_fmt(f.get('rows_per_s'))} | {over} | {lat_s} | "
                f"{_fmt(f.get('cpu_s_per_mrows'), 1)} | {_fmt(f.get('peak_rss_mb'), 0)} | "
                f"{_fmt(f.get('kafka_bytes_per_row'), 0)} | {_fmt(f.get('key_value_bytes_per_row'), 0)} |")
    lines += [
        "",
        "¹ server-side decoding only (no network): the physical limit, not a streaming system.",
        "",
        "Ratios (pgbridge rows/s over the stream ceiling = fastest of pg_recvlogical and the psycopg2 raw readers, "
        "and over Debezium):",
        "",
        "| workload | ceiling rows/s (reader) | decoder-only / ceiling | pgbridge | / ceiling | / debezium-json "
        "| / debezium-json-schemas | / Debezium, same chain |",
        "|---|--:|--:|---|--:|--:|--:|--:|",
    ]
    for name, r in rat.items():
        bridges = sorted(k for k in r if k.startswith("pgbridge"))
        if not bridges and "decoder_only_over_ceiling" in r:  # a run of the ceiling and the decoder alone
            lines.append(f"| {name} | {_fmt(r.get('ceiling_rows_per_s'))} ({r.get('ceiling_system')}) | "
                         f"{_fmt(r['decoder_only_over_ceiling'], 2)} | – | – | – | – | – |")
        for s in bridges:
            same = [r[s][f"over_{d}"] for d in SAME_CHAIN.get(s, ()) if f"over_{d}" in r[s]]
            lines.append(
                f"| {name} | {_fmt(r.get('ceiling_rows_per_s'))} ({r.get('ceiling_system')}) | "
                f"{_fmt(r.get('decoder_only_over_ceiling'), 2)} | {s} | {_fmt(r[s].get('over_ceiling'), 2)} | "
                f"{_fmt(r[s].get('over_debezium-json'), 2)} | {_fmt(r[s].get('over_debezium-json-schemas'), 2)} | "
                f"{_fmt(same[0] if same else None, 2)} |")
    micro = results.get("micro")
    if micro:
        lines += ["", "Stage micro-benchmarks (one process, synthetic 8-column rows):", ""]
        lines += ["| stage | figure |", "|---|--:|"]
        for label, value in _micro_rows(micro):
            lines.append(f"| {label} | {value} |")
    lines += [
        "",
        "How the figures are taken: rows/s = row changes / (time from the system's walsender taking the slot to "
        "the last record readable in Kafka — the sum of the topics' high watermarks, acks=all — or, for the "
        "ceilings, to the reader having received the workload's end LSN); every system starts cold on the "
        "backlog (JVM warm-up included for Debezium). Latency: W2 is run again at a fixed "
        "rate while each Kafka system streams; a consumer reads every record, latency = read time − source.ts_ms "
        "(commit time), after a warm-up that is not counted. CPU µs / row (= CPU seconds per million rows): "
        "user+system time of all the system's processes while streaming (start-up excluded); the walsender's and "
        "broker's CPU are in results.json. Peak RSS: largest sum over the "
        "system's processes. Kafka bytes/row: the topics' log segment bytes on the broker's disk (after the "
        "producer's compression: pgbridge lz4, Connect none by default) per row change; key+value bytes/row: "
        "the sum of every record's key and value sizes as a consumer reads them (uncompressed, tombstones "
        "included) per row change. pgbridge writes "
        "JSON with schemas (its default, like debezium-json-schemas); Debezium runs with connector and Connect "
        "defaults apart from snapshot.mode=no_data. Topics are pre-created with "
        f"{results['config']['partitions_per_topic']} partitions for every system.",
    ]
    ran = {s for wl in results["workloads"].values() for s in wl["systems"]}
    variants = [f"- {s}: {text}" for s, text in DESCRIPTIONS.items() if s in ran]
    if variants:
        lines += ["", *variants]
    return "\n".join(lines) + "\n"


def _micro_rows(micro: dict):
    d = micro.get("decode", {})
    if "error" not in d:
        if "route_insert_rows_per_s" in d:
            yield "decode, routing key only (insert)", f"{d['route_insert_rows_per_s']:,} rows/s"
        if "decode_insert_rows_per_s" in d:
            yield "decode, full tuple (insert)", f"{d['decode_insert_rows_per_s']:,} rows/s"
    c = micro.get("convert", {})
    if "rows_per_s" in c:
        yield "convert 8 values to Debezium values", f"{c['rows_per_s']:,} rows/s"
    r = micro.get("ring", {})
    if "records_per_s" in r:
        yield "ring, 2 processes, small records", f"{r['records_per_s']:,} records/s"
    for key, label in (("route", "route (decoder's per-message work)"),
                       ("encode", "convert + Debezium envelope JSON (schemas on)"),
                       ("produce", "msgspec encode + produce() to the local broker, acked")):
        f = micro.get(key, {})
        if "rows_per_s" in f:
            yield label, f"{f['rows_per_s']:,} rows/s"
    p = micro.get("producer", {})
    if "rows_per_cpu_s" in p:
        rounds = f" (best of {p['rounds']}; median {p['rows_per_cpu_s_median']:,})" if "rounds" in p else ""
        yield "one producer, ring batch → Kafka acked (goal ≥ 60,000)", f"{p['rows_per_cpu_s']:,} rows per CPU-second{rounds}"
    for key in ("decode", "convert", "ring", "route", "encode", "produce", "producer"):
        if "error" in micro.get(key, {}):
            yield f"{key}", "error: " + micro[key]["error"][:80]


def scaling_series(workloads: dict) -> dict[str, list[tuple[int, int]]]:
    """Per workload: (producers, rows/s) of the plain pgbridge-N systems (not the variants)."""
    series = {}
    for name, wl in workloads.items():
        pts = sorted((int(s.split("-")[1]), f["rows_per_s"]) for s, f in wl["systems"].items()
                     if re.fullmatch(r"pgbridge-\d+", s) and _ok(f))
        if pts:
            series[name] = pts
    return series


def plots(out: Path, results: dict, samples: dict) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    made = []
    wls = results["workloads"]
    # Throughput bars per workload.
    if wls:
        cols = 2 if len(wls) > 1 else 1
        rows = -(-len(wls) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
        for ax in axes.flat[len(wls):]:
            ax.set_visible(False)
        for ax, (name, wl) in zip(axes.flat, wls.items()):
            items = [(s, f["rows_per_s"]) for s, f in wl["systems"].items() if _ok(f)]
            if not items:
                ax.set_visible(False)
                continue
            colors = ["#8c8c8c" if s in CEILING_READERS or s == "server-decode" else
                      "#1f77b4" if s.startswith("pgbridge") else "#ff7f0e" if s.startswith("debezium") else "#2ca02c"
                      for s, _ in items]
            ax.barh([s for s, _ in items][::-1], [v for _, v in items][::-1], color=colors[::-1])
            ax.set_title(f"{name}: {wl['title']}", fontsize=9)
            ax.set_xlabel("row changes / s", fontsize=8)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:,.0f}k"))
            ax.set_xlim(0, max(v for _, v in items) * 1.22)
            ax.tick_params(labelsize=8)
            for i, (_, v) in enumerate(items[::-1]):
                ax.text(v, i, f" {v:,.0f}", va="center", fontsize=7)
        fig.suptitle(f"Throughput (grey: ceilings, green: decoder alone, blue: pgbridge, orange: Debezium) — "
                     f"{results['meta']['host']['cores']} cores, {results['meta']['date'][:10]}", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=110)
        plt.close(fig)
        made.append("throughput.png")
    # Latency CDF (W2 paced).
    for name, per_system in samples.items():
        if not per_system:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for s, values in per_system.items():
            if not values:
                continue
            data = sorted(values)
            n = len(data)
            ax.plot(data, [(i + 1) / n for i in range(n)], label=s)
        ax.set_xscale("log")
        ax.set_xlabel("commit → readable in Kafka (ms, log scale)")
        ax.set_ylabel("fraction of records")
        phase = wls.get(name, {}).get("latency_phase", {})
        ax.set_title(f"{name} latency CDF at {phase.get('rows_per_s_offered', '?')} rows/s offered", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"latency_cdf_{name}.png", dpi=110)
        plt.close(fig)
        made.append(f"latency_cdf_{name}.png")
    # Scaling vs producers.
    series = scaling_series(wls)
    if series:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for name, pts in series.items():
            line, = ax.plot([p for p, _ in pts], [v for _, v in pts], marker="o", label=f"{name} pgbridge")
            ceiling = results.get("ratios", {}).get(name, {}).get("ceiling_rows_per_s")
            if ceiling:
                ax.axhline(ceiling, color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_xticks(sorted({p for pts in series.values() for p, _ in pts}))
        ax.set_xlabel("bridge.producers")
        ax.set_ylabel("row changes / s (dotted: stream ceiling)")
        ax.set_title(f"Scaling with producers on {results['meta']['host']['cores']} cores", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=110)
        plt.close(fig)
        made.append("scaling.png")
    return made


def write(out: Path, results: dict, samples: dict) -> None:
    results["ratios"] = ratios(results)
    try:
        results["plots"] = plots(out, results, samples)
    except ImportError as exc:  # matplotlib missing: the JSON and summary still get written
        results["plots_error"] = f"{exc} (pip install '.[bench]')"
    (out / "latency_samples.json").write_text(json.dumps(samples))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "summary.md").write_text(summary_md(results))
