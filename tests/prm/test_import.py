"""`import prm` never imports torch; a missing extra gives the install hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_prm_does_not_import_torch():
    proc = _run(
        "import sys, prm\n"
        "from prm import ProcessRewardModel, StepScores, split_steps, select_best\n"
        "bad = [m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_missing_torch_gives_install_hint(tmp_path):
    proc = _run(
        "import sys\n"
        "sys.modules['torch'] = None  # what an install without the prm extra looks like\n"
        "import prm\n"
        "try:\n"
        f"    prm.ProcessRewardModel.from_pretrained({str(tmp_path)!r})\n"
        "except prm.PRMDependencyError as exc:\n"
        "    print(exc)\n"
        "    assert isinstance(exc, ImportError)\n"
        "    sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pip install 'mathreward[prm]'" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


def test_public_surface_is_pinned():
    import prm

    assert set(prm.__all__) >= {"ProcessRewardModel", "StepScores", "split_steps", "select_best", "PRMError"}
    for name in prm.__all__:
        assert hasattr(prm, name)
