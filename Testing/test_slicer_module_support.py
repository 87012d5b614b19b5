"""The self-test every module file runs (``condswin_slicer.module_support.run_module_tests``): it runs the named
pytest cases of a source checkout or of an installed extension (which installs them beside the modules) and fails
when they fail; it fails, saying why, when the cases are missing or pytest is missing and installing it was not
agreed to, and it installs nothing unasked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from condswin_slicer import module_support
from condswin_slicer.module_support import module_tests_folder, run_module_tests

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ConditionalSwinSeg", "MRIRecon", "MRIDenoise")


class FakeTestCase:
    """The three methods of ``ScriptedLoadableModuleTest`` the self-test uses (``fail`` raises, as unittest's)."""

    def __init__(self):
        self.shown: list[str] = []
        self.compared: list[tuple[object, object]] = []

    def delayDisplay(self, text: str) -> None:  # noqa: N802 - Slicer's name
        self.shown.append(text)

    def assertEqual(self, first: object, second: object) -> None:  # noqa: N802 - unittest's name
        self.compared.append((first, second))

    def fail(self, message: str) -> None:
        raise AssertionError(message)


def never_asked(message: str) -> bool:
    raise AssertionError(f"asked although nothing was missing: {message}")


def _checkout(tmp_path: Path, body: str, *, installed: bool = False) -> Path:
    """A module folder with ``Testing/test_case.py`` beside it (source checkout) or inside it (installed)."""
    module_dir = tmp_path / "Module"
    tests = module_dir / "Testing" if installed else tmp_path / "Testing"
    tests.mkdir(parents=True)
    (tests / "test_case.py").write_text(f"def test_case():\n    {body}\n")
    requirements = module_dir / "Resources" / "requirements.txt" if installed else tmp_path / "requirements.txt"
    requirements.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_text("numpy>=1.0\n")
    return module_dir


def test_runs_the_named_cases_and_reports_their_exit_code(tmp_path: Path):
    passing = FakeTestCase()
    run_module_tests(passing, str(_checkout(tmp_path / "a", "assert True")), ["test_case.py"], never_asked)
    assert passing.compared == [(0, 0)] and "Running 1 test file(s)" in passing.shown[0]

    failing = FakeTestCase()
    run_module_tests(failing, str(_checkout(tmp_path / "b", "assert False")), ["test_case.py"], never_asked)
    assert len(failing.compared) == 1 and failing.compared[0][0] != 0  # the module's self-test fails with them


def test_an_installed_extension_runs_the_cases_it_installed_beside_the_modules(tmp_path: Path):
    module_dir = _checkout(tmp_path, "assert False", installed=True)
    assert module_tests_folder(module_dir) == module_dir / "Testing"
    case = FakeTestCase()
    run_module_tests(case, str(module_dir), ["test_case.py"], never_asked)
    assert len(case.compared) == 1 and case.compared[0][0] != 0


def test_missing_cases_fail_the_self_test_saying_so(tmp_path: Path):
    case = FakeTestCase()
    with pytest.raises(AssertionError, match="test_missing.py.*nothing was tested"):
        run_module_tests(case, str(_checkout(tmp_path, "assert True")), ["test_case.py", "test_missing.py"], bool)
    assert case.compared == []


def test_pytest_is_installed_only_when_the_user_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(module_support, "find_spec", lambda name: None)  # a Slicer without pytest
    asked: list[str] = []

    def decline(message: str) -> bool:
        asked.append(message)
        return False  # also what a Slicer without a main window answers

    case = FakeTestCase()
    with pytest.raises(AssertionError, match="pytest is not installed.*nothing was tested"):
        run_module_tests(case, str(_checkout(tmp_path, "assert True")), ["test_case.py"], decline)
    assert len(asked) == 1 and "Install pytest?" in asked[0]  # asked once; declined, nothing was installed
    assert case.compared == []


@pytest.mark.parametrize("module", MODULES)
def test_the_extension_installs_every_file_a_self_test_runs(module: str):
    named = re.search(r"run_module_tests\(self, _HERE, \(([^)]*)\)\)", (ROOT / module / f"{module}.py").read_text())
    assert named, f"{module}.py names no test files for its self-test"
    files = re.findall(r'"(test_\w+\.py)"', named.group(1))
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    installed = set(re.findall(r"Testing/(\w+\.py)", cmake))
    assert files and set(files) <= installed, f"CMakeLists.txt does not install {sorted(set(files) - installed)}"
    assert {"conftest.py", "slicer_logic_support.py", "synthetic_images.py"} <= installed  # what the cases import
