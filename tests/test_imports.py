"""The project's imports run one way: commands -> stage folders -> shared basics, with no circle."""

import ast

from conftest import ROOT

BASICS = ["common/files.py"]  # import nothing of the project
COMMANDS = {"prepare", "train", "evaluate", "app", "export", "compare", "synthetic", "convert_weights"}


def project_modules():
    """{module name: path} of every module of the project (tests and benches aside)."""
    paths = [*ROOT.glob("*.py"), *ROOT.glob("*/*.py")]
    paths = [p for p in paths if p.parent.name not in ("tests", "bench") and not p.parent.name.startswith(".")]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in paths}


def imports(path, modules):
    """The project modules that `path` imports anywhere in it (at the top or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from nets import i3d`
    return {name for name in found if name in modules}


def test_no_module_imports_itself_through_others():
    modules = project_modules()
    graph = {name: imports(path, modules) - {name} for name, path in modules.items()}

    def on_a_circle(name):  # a depth-first walk of what `name` imports, directly or through others
        waiting, seen = list(graph[name]), set()
        while waiting:
            module = waiting.pop()
            if module == name:
                return True
            if module not in seen:
                seen.add(module)
                waiting.extend(graph[module])
        return False

    circles = sorted(name for name in graph if on_a_circle(name))
    assert not circles, f"modules on an import circle: {', '.join(circles)}"


def test_the_basics_import_nothing_of_the_project():
    modules = project_modules()
    for basic in BASICS:
        assert not imports(ROOT / basic, modules), f"{basic} imports the project's modules"


def test_no_helper_imports_a_command():
    modules = project_modules()
    helpers = {name: path for name, path in modules.items() if "." in name or name in ("datagenerator", "network")}
    offenders = {name: sorted(imports(path, modules) & COMMANDS) for name, path in helpers.items()}
    offenders = {name: commands for name, commands in offenders.items() if commands}
    assert not offenders, f"helpers that import a command: {offenders}"
