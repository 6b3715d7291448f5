"""What ``make dist`` checks in the built wheel and sdist (scripts/check_dist.py), on archives written here.

``make dist`` runs the check on the real build and ``make test-wheel`` installs that wheel into a fresh
virtualenv with Airflow; these tests keep the suite fast and show the check finds each thing a wheel can lose.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from airflow_provider_zoho import __version__
from airflow_provider_zoho.get_provider_info import get_provider_info
from scripts.check_dist import (
    DATA_FILES,
    PACKAGE,
    REPO,
    SDIST_FILES,
    WHEEL_LICENSE,
    Expected,
    check_folder,
    expected_from_repo,
)

EXPECTED = expected_from_repo(REPO)


def _entry_points_txt(entry_points: Mapping[str, Mapping[str, str]]) -> str:
    return "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in entry_points.items()
    )


def _write_dist(
    folder: Path,
    declared: Expected,
    wheel_files: Iterable[str] = EXPECTED.files,
    sdist_files: Iterable[str] = EXPECTED.files | SDIST_FILES,
    wheel_license: bool = True,
) -> Path:
    """A wheel and an sdist as a build backend lays them out, declaring what ``declared`` says (empty files)."""
    folder.mkdir(exist_ok=True)
    dist_info = f"{PACKAGE}-{declared.version}.dist-info"
    with zipfile.ZipFile(folder / f"{PACKAGE}-{declared.version}-py3-none-any.whl", "w") as wheel:
        for name in wheel_files:
            wheel.writestr(name, "")
        wheel.writestr(
            f"{dist_info}/METADATA", f"Metadata-Version: 2.4\nName: {declared.name}\nVersion: {declared.version}\n"
        )
        wheel.writestr(f"{dist_info}/entry_points.txt", _entry_points_txt(declared.entry_points))
        if wheel_license:
            wheel.writestr(f"{dist_info}/{WHEEL_LICENSE}", "")
    top = f"{PACKAGE}-{declared.version}"
    with tarfile.open(folder / f"{top}.tar.gz", "w:gz") as sdist:
        for name in sdist_files:
            sdist.addfile(tarfile.TarInfo(f"{top}/{name}"), io.BytesIO(b""))
    return folder


def test_the_repository_expects_the_data_files_the_entry_points_and_the_providers_version() -> None:
    info = get_provider_info()
    assert EXPECTED.name == info["package-name"]
    assert EXPECTED.version == __version__ == info["versions"][0]
    assert EXPECTED.files >= DATA_FILES
    assert all((REPO / path).is_file() for path in DATA_FILES)
    assert f"{PACKAGE}/testing/emulator.py" in EXPECTED.files
    assert not any("__pycache__" in path for path in EXPECTED.files)
    assert EXPECTED.entry_points["apache_airflow_provider"] == {
        "provider_info": "airflow_provider_zoho.get_provider_info:get_provider_info"
    }
    assert EXPECTED.entry_points["pytest11"] == {"zoho_emulator": "airflow_provider_zoho.testing.pytest_plugin"}
    assert EXPECTED.entry_points["console_scripts"] == {"zoho-airflow-auth": "airflow_provider_zoho.auth:main"}


def test_a_complete_wheel_and_sdist_pass(tmp_path: Path) -> None:
    assert check_folder(EXPECTED, _write_dist(tmp_path / "dist", EXPECTED)) == []


@pytest.mark.parametrize("lost", [*sorted(DATA_FILES), f"{PACKAGE}/hooks/zoho.py"])
def test_a_file_missing_from_the_wheel_is_named(tmp_path: Path, lost: str) -> None:
    folder = _write_dist(tmp_path / "dist", EXPECTED, wheel_files=EXPECTED.files - {lost})
    assert check_folder(EXPECTED, folder) == [f"the wheel lacks {lost}"]


def test_a_wheel_without_the_license_text_is_reported(tmp_path: Path) -> None:
    assert (REPO / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    folder = _write_dist(tmp_path / "dist", EXPECTED, wheel_license=False)
    dist_info = f"{PACKAGE}-{EXPECTED.version}.dist-info"
    assert check_folder(EXPECTED, folder) == [f"the wheel lacks its license text, {dist_info}/{WHEEL_LICENSE}"]


@pytest.mark.parametrize(
    ("group", "name"),
    [
        ("apache_airflow_provider", "provider_info"),
        ("pytest11", "zoho_emulator"),
        ("console_scripts", "zoho-airflow-auth"),
    ],
)
def test_a_missing_or_moved_entry_point_is_named(tmp_path: Path, group: str, name: str) -> None:
    wanted = EXPECTED.entry_points[group][name]
    without = {
        g: {n: v for n, v in points.items() if (g, n) != (group, name)} for g, points in EXPECTED.entry_points.items()
    }
    moved = {
        g: {**points, name: "elsewhere:main"} if g == group else points for g, points in EXPECTED.entry_points.items()
    }

    missing = check_folder(EXPECTED, _write_dist(tmp_path / "a", replace(EXPECTED, entry_points=without)))
    wrong = check_folder(EXPECTED, _write_dist(tmp_path / "b", replace(EXPECTED, entry_points=moved)))

    assert missing == [f"entry point [{group}] {name} is [] in the wheel, {wanted!r} in pyproject.toml"]
    assert wrong == [f"entry point [{group}] {name} is ['elsewhere:main'] in the wheel, {wanted!r} in pyproject.toml"]


def test_a_wheel_named_for_another_version_or_project_is_reported(tmp_path: Path) -> None:
    other_version = _write_dist(tmp_path / "a", replace(EXPECTED, version="9.9.9"))
    other_name = _write_dist(tmp_path / "b", replace(EXPECTED, name="airflow-provider-other"))

    [version_problem] = check_folder(EXPECTED, other_version)
    assert f"{PACKAGE}-{EXPECTED.version}.dist-info/METADATA" in version_problem
    assert check_folder(EXPECTED, other_name) == [
        f"the wheel's METADATA says Name 'airflow-provider-other', the repository {EXPECTED.name!r}"
    ]


def test_an_sdist_that_cannot_build_the_wheel_again_is_reported(tmp_path: Path) -> None:
    folder = _write_dist(tmp_path / "dist", EXPECTED, sdist_files=EXPECTED.files)
    assert check_folder(EXPECTED, folder) == [f"the sdist lacks {name}" for name in sorted(SDIST_FILES)]


def test_a_folder_with_leftovers_from_another_build_is_refused(tmp_path: Path) -> None:
    folder = _write_dist(tmp_path / "dist", EXPECTED)
    _write_dist(folder, replace(EXPECTED, version="0.0.1"))
    [problem] = check_folder(EXPECTED, folder)
    assert "must hold one wheel and one sdist" in problem
