import subprocess
import sys

import symcl
from symcl.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit:
        assert exit.code == 0
    assert capsys.readouterr().out.strip() == f"symcl {symcl.__version__}"


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "symcl.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert symcl.__version__ in result.stdout
