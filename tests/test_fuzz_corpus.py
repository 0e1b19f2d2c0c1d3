"""The fuzz corpus in the suite (issue 25): ``medden denoise`` over a seeded sample of
malformed inputs made from the repository's samples never crashes, reports every case with
a reason, leaves no partial file, changes nothing in IN and stays within a memory bound."""

from __future__ import annotations

import subprocess
import sys

from medden.testing.fuzz import check, make_corpus

#: Peak resident memory allowed to the run (a lying header claims up to 3.6 GB).
_MAX_RSS_KIB = 1 << 20


#: Runs ``medden`` (argv from the second item on) and writes its own peak resident memory
#: (KiB) to the file named first: the run's alone (about 0.45 GiB), not the largest of every
#: process the test session has waited for (``RUSAGE_CHILDREN``: other tests' subprocesses
#: and forked benchmark workers, which reached 1,049,752 KiB in one CI run).
_MEDDEN_MEASURED = """
import resource, sys
from pathlib import Path
from medden.cli import main
peak, sys.argv = Path(sys.argv[1]), sys.argv[1:]
code = main()
peak.write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""


def test_denoise_over_a_fuzz_sample(tmp_path):
    manifest = make_corpus(tmp_path / "corpus", count=120, seed=0)
    assert {"ok", "fail", "any"} <= set(manifest.values())
    out, peak = tmp_path / "out", tmp_path / "peak_rss_kib"
    run = subprocess.run(
        [sys.executable, "-c", _MEDDEN_MEASURED, str(peak),
         "denoise", str(tmp_path / "corpus" / "in"), str(out), "--model", "median:size=3",
         "--quiet"],
        capture_output=True, text=True, errors="replace", timeout=300, check=False)
    assert run.returncode == 1, run.stderr[-2000:]
    outcome = check(tmp_path / "corpus", out, run.stdout + run.stderr)
    assert outcome.errors == [], outcome.summary()
    assert outcome.statuses["ok"] >= list(manifest.values()).count("ok")
    assert 0 < int(peak.read_text()) < _MAX_RSS_KIB
