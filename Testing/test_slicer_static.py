"""Static checks of the Slicer extension (Slicer cannot run here): every script and resource of a module is
listed in its CMakeLists.txt, every .py parses, each .ui parses and holds every widget name the code uses, no
module file imports torch at import time, the catalog entry parses, requirements.txt follows pyproject.toml."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ConditionalSwinSeg", "MRIRecon", "MRIDenoise")
PACKAGES = (*MODULES, "SlicerShared", "SlicerBatch")  # folders whose Python goes into the extension


def _cmake_listed(folder: Path) -> set[str]:
    """Every file name listed in ``folder/CMakeLists.txt``, with ``${MODULE_NAME}`` expanded."""
    text = re.sub(r"#[^\n]*", "", (folder / "CMakeLists.txt").read_text(encoding="utf-8"))
    name = re.search(r"set\(\s*MODULE_NAME\s+(\S+?)\s*\)", text)
    if name:
        text = text.replace("${MODULE_NAME}", name.group(1))
    return set(re.findall(r"[\w./-]+\.(?:py|ui|png|svg|qrc|json|txt|nrrd)\b", text))


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "CMakeLists.txt" and not p.name.startswith(".")
    )


def _python_files() -> list[Path]:
    return [p for folder in PACKAGES for p in _files(ROOT / folder) if p.suffix == ".py"]


@pytest.mark.parametrize("folder", PACKAGES)
def test_every_script_and_resource_is_listed_in_the_cmakelists(folder: str):
    path = ROOT / folder
    listed = _cmake_listed(path)
    files = {p.relative_to(path).as_posix() for p in _files(path)}
    assert files, f"{folder} holds no file"
    assert files - listed == set(), f"{folder}/CMakeLists.txt does not list {sorted(files - listed)}"
    assert listed - files == set(), f"{folder}/CMakeLists.txt lists missing files {sorted(listed - files)}"


@pytest.mark.parametrize("module", MODULES)
def test_module_layout_and_thin_module_file(module: str):
    folder = ROOT / module
    for part in (
        f"{module}.py",
        f"{module}Lib/__init__.py",
        f"Resources/UI/{module}.ui",
        f"Resources/Icons/{module}.png",
    ):
        assert (folder / part).is_file(), f"{module}/{part} is missing"
    assert (folder / f"Resources/Icons/{module}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (folder / f"{module}.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 130, f"{module}.py has {len(lines)} lines: keep the module file thin (logic in {module}Lib/)"
    tree = ast.parse("\n".join(lines))
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {module, f"{module}Widget", f"{module}Test"} <= classes
    text = "\n".join(lines)  # the shared panel and self-test are built on this module's own .ui
    assert f'build_panel(self, _HERE, "{module}.ui"' in text and "run_module_tests(self, _HERE" in text


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_parses_and_imports_no_torch_at_import_time(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def module_level(nodes: list[ast.stmt]):
        for node in nodes:  # top level, including if/try blocks; function and class bodies run later
            yield node
            for block in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, block, None)
                if isinstance(inner, list) and not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    yield from module_level(
                        [n for n in inner if isinstance(n, ast.stmt)]
                        + [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body]
                    )

    for node in module_level(tree.body):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        assert not any(name == "torch" or name.startswith("torch.") for name in names), (
            f"{path.relative_to(ROOT)}:{node.lineno} imports torch at module import time"
        )


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of ``path``, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def test_the_shared_code_imports_no_module():
    """SlicerShared sits below the three modules: it holds what they share and imports none of them (the batch
    script, which drives all three, sits above them in SlicerBatch)."""
    modules = {*MODULES, *(f"{m}Lib" for m in MODULES)}
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _files(ROOT / "SlicerShared")
        if path.suffix == ".py"
        for line, name in _imported_modules(path)
        if name.split(".")[0] in modules
    ]
    assert upward == []


def _ui_widget_names(ui_path: Path) -> set[str]:
    root = ET.parse(ui_path).getroot()
    assert root.tag == "ui"
    return {w.get("name") for w in root.iter("widget")} | {a.get("name") for a in root.iter("action")}


def _widget_names_used(paths: list[Path]) -> set[str]:
    """``ui.NAME`` attributes, and section names given as strings (``"...CollapsibleButton"``), in ``paths``."""
    used: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bui\.([A-Za-z_]\w*)", text))
        used |= set(re.findall(r"[\"'](\w+CollapsibleButton)[\"']", text))
    return used


@pytest.mark.parametrize("module", MODULES)
def test_ui_parses_and_holds_every_widget_name_the_code_uses(module: str):
    names = _ui_widget_names(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    used = _widget_names_used([p for p in _files(ROOT / module) if p.suffix == ".py"])
    assert used, f"{module}'s code uses no widget of its .ui"
    # the panel base class drives the run controls of every module's .ui
    shared = _widget_names_used([ROOT / "SlicerShared" / "condswin_slicer" / "widget_support.py"])
    assert {"applyButton", "progressBar", "logTextEdit"} <= shared
    assert (used | shared) - names == set(), f"{module}.ui lacks widgets {sorted((used | shared) - names)}"


def test_ui_check_catches_a_missing_widget(tmp_path: Path):
    ui = tmp_path / "x.ui"
    ui.write_text(
        '<ui version="4.0"><widget class="QWidget" name="root"><widget class="QPushButton" name="a"/></widget></ui>'
    )
    assert _ui_widget_names(ui) == {"root", "a"}
    ui.write_text("<ui><widget name='a'>")
    with pytest.raises(ET.ParseError):
        _ui_widget_names(ui)


def test_top_level_cmakelists_builds_the_extension():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r"project\(\s*ConditionalSwin\s*\)", text)
    assert re.search(r'set\(\s*EXTENSION_DEPENDS\s+"?PyTorch"?\s*\)', text)
    for folder in PACKAGES:
        assert re.search(rf"add_subdirectory\(\s*{folder}\s*\)", text), f"{folder} is not built"
    for needed in ("Slicer_EXTENSION_GENERATE_CONFIG", "Slicer_EXTENSION_CPACK", "condswin/*.py", "Resources/Models/*"):
        assert needed in text


def test_catalog_entry_parses():
    entry = json.loads((ROOT / "ConditionalSwin.json").read_text(encoding="utf-8"))
    assert {"scm_url", "scm_revision", "build_dependencies", "category", "tier", "build_subdirectory"} <= set(entry)
    assert "PyTorch" in entry["build_dependencies"]
    assert entry["category"] == "Segmentation" and isinstance(entry["tier"], int)


def test_requirements_are_the_runtime_dependencies_without_torch_and_simpleitk():
    def name(requirement: str) -> str:
        return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {name(r): r for r in pyproject["project"]["dependencies"] if name(r) not in ("torch", "simpleitk")}
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    listed = {name(line): line for line in lines if line}
    assert listed == wanted


def test_missing_requirements_reads_installed_versions(tmp_path: Path):
    from condswin_slicer.install import missing_requirements, read_requirements, requirements_file

    assert missing_requirements(read_requirements(requirements_file(ROOT / "ConditionalSwinSeg"))) == []
    assert missing_requirements(["numpy>=1.0", "numpy>=999", "no-such-package-xyz"]) == [
        "numpy>=999",
        "no-such-package-xyz",
    ]


# --- strings through slicer.i18n -------------------------------------------------------------------------------

_SHOWN_BY = {"log", "show_error", "errorDisplay", "delayDisplay", "warningDisplay", "infoDisplay"}
_SHOWN_AS = {"text", "toolTip", "title", "helpText", "acknowledgementText"}


def _untranslated(path: Path) -> list[str]:
    """User-visible strings that do not go through ``_``: literal words given to a display call or set as a
    widget's text (f-strings that only join values and punctuation are fine)."""

    def has_words(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return bool(re.search(r"[A-Za-z]{2}", node.value))
        if isinstance(node, ast.JoinedStr):
            return any(has_words(part) for part in node.values if isinstance(part, ast.Constant))
        if isinstance(node, ast.BinOp):
            return has_words(node.left) or has_words(node.right)
        return False

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in _SHOWN_BY and has_words(node.args[0]):
                found.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.Assign) and has_words(node.value):
            if any(isinstance(t, ast.Attribute) and t.attr in _SHOWN_AS for t in node.targets):
                found.append(f"{path.name}:{node.lineno}")
    return found


_GUI_FILES = [
    *(ROOT / m / f"{m}.py" for m in MODULES),
    *(ROOT / m / f"{m}Lib" / "widget.py" for m in MODULES),
    ROOT / "SlicerShared" / "condswin_slicer" / "widget_support.py",
    ROOT / "SlicerShared" / "condswin_slicer" / "module_support.py",
]


@pytest.mark.parametrize("path", _GUI_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_user_visible_strings_go_through_the_translation_function(path: Path):
    assert _untranslated(path) == []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "condswin_slicer.i18n" for n in imports), f"{path.name} must use condswin_slicer.i18n"


def test_the_shared_translation_function_falls_back_where_slicer_i18n_is_absent():
    tree = ast.parse((ROOT / "SlicerShared" / "condswin_slicer" / "i18n.py").read_text(encoding="utf-8"))
    guarded = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Try)
        and any(isinstance(b, ast.ImportFrom) and b.module == "slicer.i18n" for b in n.body)
        and any(getattr(h.type, "id", "") == "ImportError" for h in n.handlers)
    ]
    assert guarded, "condswin_slicer/i18n.py must import slicer.i18n with a fallback where it is absent"


def test_translation_check_catches_a_bare_string(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text('view.log("Cancelling...")\nui.applyButton.text = "Apply"\nview.log(f"{a}: {b}")\n')
    assert sorted(_untranslated(bad)) == ["bad.py:1", "bad.py:2"]
    good = tmp_path / "good.py"
    good.write_text('view.log(_("Cancelling..."))\nui.applyButton.text = _("Apply")\n')
    assert _untranslated(good) == []


def test_i18n_falls_back_to_the_string_itself_outside_slicer():
    from condswin_slicer.i18n import _, translate

    assert _("Apply") == "Apply" and translate("context", "Cancel") == "Cancel"


def test_importing_the_logic_and_shared_code_loads_no_torch():
    """Slicer's generic tests build every module with maybe no torch: nothing the modules import needs it."""
    code = (
        "import sys\n"
        "for m in ('condswin_slicer.process', 'condswin_slicer.job', 'condswin_slicer.mrml',\n"
        "          'condswin_slicer.parameters', 'condswin_slicer.widget_support', 'condswin_slicer.install',\n"
        "          'condswin_slicer.batch', 'MRIReconLib.logic', 'MRIReconLib.reader', 'MRIDenoiseLib.logic',\n"
        "          'ConditionalSwinSegLib.logic', 'condswin_batch.tasks'):\n"
        "    __import__(m)\n"
        "print('torch' in sys.modules)\n"
    )
    paths = [str(ROOT / f) for f in PACKAGES]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
