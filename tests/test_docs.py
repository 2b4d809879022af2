"""The guide's links and code references resolve (no Spark): every relative link in README.md and docs/*.md
names a file that exists and, with `#anchor`, a heading in it; every backticked repo path exists, every
backticked `bigwrap.…` (or `layers.…`) name resolves in Python or in the Scala sources, every `make X` is a
Makefile target; and every "design §N" citation in the code names a section of docs/design.md."""
from __future__ import annotations

import importlib
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCALA = ROOT / "jvm" / "src" / "main" / "scala"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCE_DIRS = ("bigwrap/", "jvm/", "native/", "tests/", "bench/", "docs/")
TOP_FILES = ("Makefile", "pyproject.toml", "build.gradle", "README.md")


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def prose(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def code_spans(page: Path) -> list[str]:
    return [span for line in prose(page) for span in re.findall(r"`([^`]+)`", line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found, count = set(), {}
    for line in prose(page):
        if match := re.match(r"#{1,6}\s+(.*)", line):
            base = slug(match.group(1))
            found.add(f"{base}-{count[base]}" if base in count else base)  # GitHub numbers repeated headings
            count[base] = count.get(base, 0) + 1
    return frozenset(found)


def links(page: Path) -> list[str]:
    text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in prose(page))  # a link inside code is code
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_relative_links_resolve(page):
    broken = []
    for link in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading with anchor #{anchor} in {target.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def test_the_guide_index_links_every_page():
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / link.partition("#")[0]).resolve() for link in links(index)}
    unlinked = [p.name for p in PAGES if p.parent == index.parent and p != index and p not in linked]
    assert not unlinked, f"docs/README.md (the reading order) does not link {unlinked}"


@cache
def generated_dirs() -> tuple[str, ...]:
    """Directories the build makes (.gitignore'd): docs may name their files, a checkout need not hold them."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return tuple(line.lstrip("/") for line in lines if line.endswith("/") and "*" not in line)


@cache
def wheel_only_dirs() -> tuple[str, ...]:
    """Package directories only `make wheel`'s staging copy holds (pyproject's package-data)."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    return tuple(f"{package}/{pattern.split('/')[0]}/" for package, patterns in package_data.items()
                 for pattern in patterns if "/" in pattern)


def repo_path_exists(path: str) -> bool:
    if "..." in path:
        return any(ROOT.glob(path.replace("...", "**")))
    return (ROOT / path).exists() or path.startswith(generated_dirs() + wheel_only_dirs())


def repo_paths(page: Path) -> list[str]:
    return [span for span in code_spans(page)
            if (span.startswith(SOURCE_DIRS) or span in TOP_FILES) and not re.search(r"[<>*{} ]", span)]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_backticked_repo_paths_exist(page):
    missing = [path for path in repo_paths(page) if not repo_path_exists(path)]
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def resolves_in_python(parts: list[str]) -> bool:
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def resolves_in_scala(parts: list[str]) -> bool:
    """`bigwrap.ml.BigwrapModel.load`: a package directory, a type defined in it, then members of that type."""
    if SCALA.joinpath(*parts).is_dir():
        return True
    for cut in range(len(parts) - 1, 0, -1):
        package = SCALA.joinpath(*parts[:cut])
        if not package.is_dir():
            continue
        type_name, members = parts[cut], parts[cut + 1:]
        for source in package.glob("*.scala"):
            text = source.read_text()
            if re.search(rf"\b(class|object|trait)\s+{type_name}\b", text) and all(
                    re.search(rf"\b(def|val|var|lazy val)\s+{member}\b", text) for member in members):
                return True
    return False


def dotted_names(page: Path) -> list[str]:
    """Backticked `bigwrap.x.y` / `layers.X` names, without a call's arguments."""
    names = []
    for span in code_spans(page):
        name = re.match(r"(bigwrap|layers)((?:\.\w+)+)", span)
        if name and (len(name.group(0)) == len(span) or span[len(name.group(0))] in "(["):
            names.append(("bigwrap." if name.group(1) == "layers" else "") + name.group(0))
    return names


@cache
def string_literals() -> frozenset[str]:
    """Names the code writes as strings (format names such as "bigwrap.model")."""
    sources = [*(ROOT / "bigwrap").rglob("*.py"), *SCALA.rglob("*.scala")]
    return frozenset(name for path in sources for name in re.findall(r'"(bigwrap(?:\.\w+)+)"', path.read_text()))


def resolves(name: str) -> bool:
    return resolves_in_python(name.split(".")) or resolves_in_scala(name.split(".")) or name in string_literals()


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_backticked_names_resolve(page):
    unresolved = [name for name in dotted_names(page) if not resolves(name)]
    assert not unresolved, f"{page.relative_to(ROOT)} names what neither Python nor Scala defines: {unresolved}"


@cache
def make_targets() -> frozenset[str]:
    makefile = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_make_targets_exist(page):
    text = page.read_text()
    named = set(re.findall(r"`make ([\w.-]+)", text)) | set(re.findall(r"^make ([\w.-]+)", text, flags=re.MULTILINE))
    assert named <= make_targets(), f"{page.relative_to(ROOT)} names make targets the Makefile lacks: {named - make_targets()}"


def source_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES if (ROOT / name).exists()]
    for directory in SOURCE_DIRS:
        files += [p for p in (ROOT / directory).rglob("*") if p.suffix in (".py", ".scala", ".md", ".cpp", ".h")
                  and not {"build", "target", "__pycache__"} & set(p.relative_to(ROOT).parts)]
    return [p for p in files if p != Path(__file__).resolve()]


def test_design_citations_name_sections_of_docs_design():
    design = ROOT / "docs" / "design.md"
    sections = set(re.findall(r"^## (\w+)\. ", design.read_text(), flags=re.MULTILINE))
    wrong = [f"{path.relative_to(ROOT)}: §{section}" for path in source_files()
             for section in re.findall(r"design(?:\.md)? §(\w+)", path.read_text(), flags=re.IGNORECASE)
             if section not in sections]
    assert not wrong, f"citations of sections docs/design.md does not have: {wrong}"
    outside = [str(p.relative_to(ROOT)) for p in source_files() if "DESIGN" + ".md" in p.read_text()]
    assert not outside, f"cite docs/design.md, not a design document outside the repository: {outside}"
