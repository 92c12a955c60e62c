"""The PEP 517 build backend of this checkout: setuptools, run on a copy of the source in a
temporary directory.

setuptools writes build/ and *.egg-info into the directory it builds in, so `sudo pip install .`
in a checkout would leave them there owned by root, and a later `pip install .` as another
user would fail on them. Built from a copy, the checkout is left as it was. Editable installs
(`pip install -e .`) point at the checkout itself and build in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from setuptools import build_meta as setuptools_backend

# What a checkout may hold that a build never needs (a venv can be large).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".ruff_cache", "results")


@contextlib.contextmanager
def _in_a_copy() -> Iterator[None]:
    source = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="librechat-textfile-build-") as scratch:
        copy = os.path.join(scratch, "src")
        shutil.copytree(source, copy, ignore=NOT_SOURCE, symlinks=True)
        os.chdir(copy)
        try:
            yield
        finally:
            os.chdir(source)


def _absolute(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    with _in_a_copy():
        return setuptools_backend.get_requires_for_build_wheel(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: dict[str, Any] | None = None) -> str:
    target = os.path.abspath(metadata_directory)
    with _in_a_copy():
        return setuptools_backend.prepare_metadata_for_build_wheel(target, config_settings)


def build_wheel(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                metadata_directory: str | None = None) -> str:
    target, metadata = os.path.abspath(wheel_directory), _absolute(metadata_directory)
    with _in_a_copy():
        return setuptools_backend.build_wheel(target, config_settings, metadata)


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    with _in_a_copy():
        return setuptools_backend.get_requires_for_build_sdist(config_settings)


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    target = os.path.abspath(sdist_directory)
    with _in_a_copy():
        return setuptools_backend.build_sdist(target, config_settings)


# An editable install must point at the checkout: built in place, as setuptools does.
get_requires_for_build_editable = setuptools_backend.get_requires_for_build_editable
prepare_metadata_for_build_editable = setuptools_backend.prepare_metadata_for_build_editable
build_editable = setuptools_backend.build_editable
