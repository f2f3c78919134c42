"""`lnsgd summary`: what was computed, where each output is, and every missed target."""

import json

from lnsgd.cli import main
from tests import synthetic_results


def test_summary_lists_results_outputs_and_missed_targets(tmp_path, capsys):
    results, build = tmp_path / "results", tmp_path / "build"
    synthetic_results.write_results(results, ("two-phase",))
    (results / "broken-0123456789ab.nc").write_text("truncated")
    (results / "check").mkdir()
    (results / "check" / "check_verdict.json").write_text(
        json.dumps(
            {
                "judged": "flow_eff",
                "configurations": 2,
                "skipped": 0,
                "missed": [{"config": "delta=4 eta=0.001", "misses": "T_II 0.103 > 0.1"}],
            }
        )
    )
    build.mkdir()
    (build / "main.pdf").write_bytes(b"%PDF")
    assert main(["summary", str(results), "--build", str(build)]) == 0
    out = capsys.readouterr().out
    assert "two-phase-" in out and "completed; step" in out
    assert "broken-0123456789ab.nc: unreadable" in out
    assert f"{build / 'main.pdf'}\n" in out and f"{build / 'latexmk.log'}  [absent]" in out
    assert "claims: not run" in out
    assert "check [delta=4 eta=0.001] flow_eff: T_II 0.103 > 0.1" in out
