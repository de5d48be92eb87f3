"""README.md's generated tables match the code (scripts/readme_tables.py)."""

import subprocess
import sys

from harness import ROOT


def test_generated_tables_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_check_notices_a_stale_table(tmp_path):
    """The check compares the README with the table it would write: an edited row fails it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    text = (ROOT / "README.md").read_text()
    assert readme_tables.render(text) == text
    stale = text.replace("| `MXBroadcastMul` |", "| `MXBroadcastMultiply` |")
    assert stale != text and readme_tables.render(stale) == text
