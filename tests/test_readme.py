"""The README's commands are the ones CI runs: docs cannot drift."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text):
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.startswith("```bash"):
            inside, current = True, []
        elif line.startswith("```") and inside:
            blocks.append("\n".join(current).strip())
            inside = False
        elif inside:
            current.append(line)
    return blocks


def test_readme_opens_with_launch_then_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    launch, test = blocks[0], blocks[1]
    assert "tf-freezer --demo" in launch and "pip install" in launch
    assert "pytest" in test and "pip install" in test


def test_ci_runs_the_readme_test_command():
    test_command = _bash_blocks((ROOT / "README.md").read_text())[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
