"""The shape of the package, read from its source with `ast`: no module reaches itself
again through what it imports (imports inside functions count: they run too), no module
over 500 lines, no class over 300 lines.
"""

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "hyperhive"
PACKAGE = PACKAGE_DIR.name
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def module_files():
    """Module name (as imported from inside the package; the package itself by its own
    name) -> its parsed source."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((PACKAGE, *parts))] = path
    return modules


def _imported_names(node, importer, is_package):
    """Every dotted name an import node may load, absolute."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        # The package a relative import starts from: the module's own for a package's
        # __init__, else the one holding the module; each further dot goes one up.
        anchor = importer.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from X import y` loads X, and X.y when y is a module of it.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph():
    """Module -> the set of modules of the package it imports, anywhere in its body."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in _imported_names(node, name, is_package)
                               if t in modules and t != name)
        graph[name] = targets
    return graph


def cycles(graph):
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def a_cycle_through(group, graph):
    """One import path that goes round the group, to name in a failure."""
    start = group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & set(group)):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return group


def _short(modules):
    return [m.removeprefix(PACKAGE + ".") for m in modules]


def test_the_cycle_finder_sees_imports_inside_functions_and_relative_ones():
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]
    assert a_cycle_through(["p.a", "p.b", "p.c"], graph) == ["p.a", "p.b", "p.c", "p.a"]
    tree = ast.parse("def f():\n    from .x import y\n    from . import z\n"
                     "import hyperhive.w\nfrom hyperhive import v\n")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_imported_names(node, "hyperhive.m", False))
    assert {"hyperhive.x", "hyperhive.z", "hyperhive.w", "hyperhive.v"} <= found


def test_no_module_of_the_package_imports_itself_back_through_others():
    graph = import_graph()
    found = [" -> ".join(_short(a_cycle_through(group, graph)))
             + f"  (the group: {', '.join(_short(group))})" for group in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_module_is_over_500_lines():
    over = [f"{name}: {lines} lines" for name, path in module_files().items()
            if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not over, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(over)


def test_no_class_is_over_300_lines():
    over = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = node.end_lineno - first + 1
                if lines > MAX_CLASS_LINES:
                    over.append(f"{name}.{node.name}: {lines} lines")
    assert not over, f"classes over {MAX_CLASS_LINES} lines:\n" + "\n".join(over)


STATIC_DIR = PACKAGE_DIR.parent / "static"
MAX_OWN_SCRIPT_LINES = 600


def test_our_own_scripts_stay_under_600_lines_in_all():
    """The server renders every page; the browser runs only glue (vendored libraries aside)."""
    scripts = {p.name: len(p.read_text().splitlines()) for p in sorted(STATIC_DIR.glob("*.js"))}
    assert scripts and sum(scripts.values()) < MAX_OWN_SCRIPT_LINES, scripts


def definitions(name):
    """Where a function or constant called `name` is defined: in the package, a module's
    function or constant or a class's method, by `ast`; in our scripts, by its `function name(` or `const name =`."""
    found = []
    for module, path in module_files().items():
        tree = ast.parse(path.read_text())
        methods = [n for c in tree.body if isinstance(c, ast.ClassDef) for n in c.body]
        for node in [*tree.body, *methods]:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                found.append(module)
            if node in tree.body and isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found.append(module)
    for path in STATIC_DIR.glob("*.js"):
        text = path.read_text()
        if f"function {name}(" in text or f"const {name} =" in text:
            found.append(path.name)
    return found


def test_each_display_rule_is_defined_once():
    for name in ("duration", "mmss", "ms_text", "compact", "money", "dollars", "clock",
                 "TURN_GLYPHS", "turn_glyph"):
        assert definitions(name) == ["hyperhive.formats"], (name, definitions(name))
    # The scripts hold no copy of a rule under another name either.
    for path in STATIC_DIR.glob("*.js"):
        text = path.read_text()
        assert "🧠" not in text and "86400" not in text, path.name
