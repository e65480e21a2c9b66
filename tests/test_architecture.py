"""Import contracts (pyproject's [tool.importlinter]): the engines never import the composition root,
the verifier never imports the model engine, no package has an import cycle; and importing the verifier
stays light (no torch, no SymPy until a comparison needs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "import-linter is part of the test set-up ('.[test]')"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_importing_the_verifier_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, verifier, verifier.judge; "
        "names = ('torch', 'sympy', 'transformers', 'grpc', 'mathreward', 'prm'); "
        "heavy = [m for m in names if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import verifier loaded: {proc.stdout.strip()}"
