"""
Scaling: time and memory against the number of rows
====================================================

The figures saved by ``benchmarks/scale.py`` and ``benchmarks/out_of_core.py`` (run them
to refresh them on your machine): synthetic views of 392 + 392 float32 columns, 50
components, from 10k to 1M rows. sklearn's CCA, a closed-form ridge CCA and one epoch of
CorrNet run in separate processes capped at 8 GiB of address space; CorrNet then reads the
same data from memmaps. This example only plots the saved results.
"""

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt

try:
    root = Path(__file__).resolve().parents[1]
except NameError:  # run interactively from examples/
    root = Path.cwd().parent
results = root / "benchmarks" / "results"
scale = json.loads((results / "scale.json").read_text())
out_of_core = json.loads((results / "out_of_core.json").read_text())
print("measured on:", scale["machine"])

# %%
# In-memory data: fit time and peak memory
# ----------------------------------------
fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 3.8))
for method, marker in zip(("sklearn CCA", "closed-form CCA", "CorrNet"), "osv"):
    runs = [r for r in scale["results"] if r["method"] == method]
    ok = [r for r in runs if r["status"] == "ok"]
    ax_t.loglog(
        [r["n"] for r in ok], [r["fit_s"] for r in ok], marker + "-", label=method
    )
    ax_m.loglog(
        [r["n"] for r in ok],
        [r["peak_rss_mib"] for r in ok],
        marker + "-",
        label=method,
    )
    for r in runs:
        if r["status"] != "ok":
            print(f"{method} at n={r['n']:,}: {r['status']}")
ax_t.set_title("fit time (CorrNet: one epoch)")
ax_m.set_title("peak resident memory")
for ax, unit in ((ax_t, "seconds"), (ax_m, "MiB")):
    ax.set_xlabel("rows")
    ax.set_ylabel(unit)
    ax.legend()
fig.tight_layout()
plt.show()

# %%
# Memmap input: anonymous memory stays flat
# -----------------------------------------
runs = [r for r in out_of_core["results"] if r["study"] == "memmap"]
fig, ax = plt.subplots(figsize=(6, 3.8))
ns = [r["n"] for r in runs]
ax.loglog(ns, [r["data_mib"] for r in runs], "k--", label="data in the memmap files")
ax.loglog(ns, [r["rss_anon_peak_mib"] for r in runs], "o-", label="peak RssAnon of fit")
ax.axhline(1024, color="red", ls=":", label="1 GiB")
ax.set_xlabel("rows")
ax.set_ylabel("MiB")
ax.set_title("CorrNet, one epoch on memmaps")
ax.legend()
fig.tight_layout()
plt.show()
