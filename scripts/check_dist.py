"""``make dist``'s last step: the wheel and sdist in a folder hold what a user of the provider needs.

``twine check`` reads the metadata only; this looks inside the archives. The wheel must hold every file of the
package's source tree, the two data files among them (``py.typed`` for type checkers, the emulator's
``testing/example_jobs.json``), declare the entry points pyproject.toml names (Airflow finds the provider
through ``apache_airflow_provider``, pytest the emulator fixtures through ``pytest11``, the shell
``zoho-airflow-auth`` through ``console_scripts``) and carry the version ``airflow_provider_zoho/__init__.py``
gives, and hold the license text. The sdist must hold the package and the pyproject.toml, README.md and LICENSE a
wheel is built from.

Standard library only, so any Python 3.11+ runs it: ``python scripts/check_dist.py dist``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import Distribution, PathDistribution
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_zoho"
#: Not modules, so the easiest files to lose from a wheel; required even if gone from the source tree.
DATA_FILES = frozenset({f"{PACKAGE}/py.typed", f"{PACKAGE}/testing/example_jobs.json"})
#: What the sdist needs besides the package to build the wheel again.
SDIST_FILES = frozenset({"pyproject.toml", "README.md", "LICENSE"})
#: Where hatchling puts the license text pyproject.toml's ``license`` names, inside the wheel's ``.dist-info``.
WHEEL_LICENSE = "licenses/LICENSE"


@dataclass(frozen=True)
class Expected:
    """What the repository says a built distribution holds."""

    name: str
    version: str
    files: frozenset[str]  # the package's files, as paths from the wheel's root
    entry_points: Mapping[str, Mapping[str, str]]  # group -> name -> "module:attribute"


def expected_from_repo(repo: Path) -> Expected:
    """Name and entry points from pyproject.toml, version from the package, files from its source tree."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entry_points = {group: dict(points) for group, points in project.get("entry-points", {}).items()}
    if project.get("scripts"):
        entry_points["console_scripts"] = dict(project["scripts"])
    source = repo / PACKAGE
    files = {
        path.relative_to(repo).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    return Expected(
        project["name"], package_version(source / "__init__.py"), frozenset(files | DATA_FILES), entry_points
    )


def package_version(init_file: Path) -> str:
    """The ``__version__ = "..."`` line hatchling reads too (``[tool.hatch.version]``)."""
    match = re.search(r'^__version__ = "([^"]+)"$', init_file.read_text(encoding="utf-8"), re.MULTILINE)
    if match is None:
        raise ValueError(f'{init_file} has no __version__ = "..." line')
    return match.group(1)


def wheel_problems(expected: Expected, names: Collection[str], distribution: Distribution) -> list[str]:
    """What the wheel lacks or gets wrong, given its member names and its ``.dist-info`` as read by importlib."""
    problems = [f"the wheel lacks {path}" for path in sorted(expected.files - set(names))]
    problems += [
        f"the wheel's METADATA says {field} {found!r}, the repository {wanted!r}"
        for field, found, wanted in (
            ("Name", distribution.metadata["Name"], expected.name),
            ("Version", distribution.version, expected.version),
        )
        if found != wanted
    ]
    declared = distribution.entry_points
    for group, points in expected.entry_points.items():
        for name, value in points.items():
            found = [entry_point.value for entry_point in declared.select(group=group, name=name)]
            if found != [value]:
                problems.append(f"entry point [{group}] {name} is {found} in the wheel, {value!r} in pyproject.toml")
    return problems


def sdist_problems(expected: Expected, names: Collection[str]) -> list[str]:
    """What the sdist lacks, given its member names without the top ``<name>-<version>/`` folder."""
    return [f"the sdist lacks {path}" for path in sorted((expected.files | SDIST_FILES) - set(names))]


def check_folder(expected: Expected, folder: Path) -> list[str]:
    """The problems of the one wheel and the one sdist in ``folder`` (``make dist`` empties it first)."""
    wheels, sdists = sorted(folder.glob("*.whl")), sorted(folder.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{folder} must hold one wheel and one sdist, it holds {[p.name for p in wheels + sdists]}"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        dist_info = f"{PACKAGE}-{expected.version}.dist-info"
        if f"{dist_info}/METADATA" not in names:
            return [f"{wheels[0].name} has no {dist_info}/METADATA: is the version in its name right?"]
        problems = wheel_problems(expected, names, PathDistribution(zipfile.Path(wheel, f"{dist_info}/")))
        if f"{dist_info}/{WHEEL_LICENSE}" not in names:
            problems.append(f"the wheel lacks its license text, {dist_info}/{WHEEL_LICENSE}")
    with tarfile.open(sdists[0]) as sdist:
        problems += sdist_problems(expected, [name.partition("/")[2] for name in sdist.getnames()])
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("folder", type=Path, help="the folder `uv build --out-dir` wrote to")
    folder = parser.parse_args(argv).folder
    problems = check_folder(expected_from_repo(REPO), folder)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: the wheel and sdist in {folder} hold the package, its data files and entry points")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
