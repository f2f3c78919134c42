"""Every subcommand reports bad input as one sentence on stderr, exit status 2, no traceback."""

import pytest

from lnsgd.cli import COMMANDS, main


def _garbage(tmp_path, name="x.nc", text="not a NetCDF file"):
    path = tmp_path / name
    path.write_text(text)
    return path


CASES = {
    "list": lambda tmp: ["list", "--no-such-option"],
    "run": lambda tmp: ["run", "two-phase", "--set", "eta=-1", "--quiet", "--out", str(tmp)],
    "show": lambda tmp: ["show", str(_garbage(tmp))],
    "theory": lambda tmp: ["theory"],
    "sweep": lambda tmp: [
        "sweep",
        str(_garbage(tmp, "bad.yaml", "name: bad\ngrid: {no_such_field: [1, 2]}\n")),
        "--out",
        str(tmp / "out"),
    ],
    "claims": lambda tmp: ["claims", "--seeds", "1", "--out", str(tmp)],
    "check": lambda tmp: ["check", "--quick", "--workers", "0", "--out", str(tmp)],
    "figures": lambda tmp: ["figures", "no-such-figure", "--results", str(tmp), "--out", str(tmp / "f")],
    "summary": lambda tmp: ["summary", str(tmp / "no-such-folder")],
}


def test_every_subcommand_has_a_bad_input_case():
    assert set(CASES) == set(COMMANDS)


def _status(argv: list[str]) -> int:
    """main's exit status, also when argparse rejects the command line (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_input_is_one_sentence_with_status_2(command, tmp_path, capsys):
    assert _status(CASES[command](tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert "error: " in err.splitlines()[-1]


@pytest.mark.parametrize("text", ["", "CDF\x01 truncated", "\x89HDF\r\n\x1a\n" + "\0" * 40])
def test_show_rejects_a_truncated_or_foreign_file(text, tmp_path, capsys):
    assert main(["show", str(_garbage(tmp_path, text=text))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable NetCDF result" in err


def test_show_rejects_a_netcdf_that_is_not_a_run(tmp_path, capsys):
    import xarray as xr

    path = tmp_path / "other.nc"
    xr.Dataset({"v": ("x", [1.0, 2.0])}).to_netcdf(path)
    assert main(["show", str(path)]) == 2
    assert "is not an lnsgd run result (no status, config, step)" in capsys.readouterr().err
