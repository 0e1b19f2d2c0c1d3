"""The fuzz corpus in the suite (issue 25): ``medden denoise`` over a seeded sample of
malformed inputs made from the repository's samples never crashes, reports every case with
a reason, leaves no partial file, changes nothing in IN and stays within a memory bound."""

from __future__ import annotations

import resource
import subprocess
import sys

from medden.testing.fuzz import check, make_corpus

#: Peak resident memory allowed to the run (a lying header claims up to 3.6 GB).
_MAX_RSS_KIB = 1 << 20


def test_denoise_over_a_fuzz_sample(tmp_path):
    manifest = make_corpus(tmp_path / "corpus", count=120, seed=0)
    assert {"ok", "fail", "any"} <= set(manifest.values())
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from medden.cli import main; sys.exit(main())",
         "denoise", str(tmp_path / "corpus" / "in"), str(out), "--model", "median:size=3",
         "--quiet"],
        capture_output=True, text=True, errors="replace", timeout=300, check=False)
    assert run.returncode == 1, run.stderr[-2000:]
    outcome = check(tmp_path / "corpus", out, run.stdout + run.stderr)
    assert outcome.errors == [], outcome.summary()
    assert outcome.statuses["ok"] >= list(manifest.values()).count("ok")
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < _MAX_RSS_KIB
