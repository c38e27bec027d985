"""The package list, which pyproject.toml cannot write: the packages of the checkout plus
``imbexp.conf``, whose files are the top-level ``conf/`` (``[tool.setuptools.package-dir]``).
Everything else about the build is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

# Namespace discovery: hydra_plugins is a namespace package shared with other Hydra plugins, and
# folders of data files (conf/<group>/, templates) are packages to setuptools, which warns about
# any it is not given.
_NOT_CODE = ["*.__pycache__", "*.__pycache__.*"]
code = find_namespace_packages(include=["imbexp", "imbexp.*", "hydra_plugins", "hydra_plugins.*"], exclude=_NOT_CODE)
groups = find_namespace_packages(where="conf", exclude=_NOT_CODE)
configs = ["imbexp.conf", *(f"imbexp.conf.{group}" for group in groups)]
setup(packages=code + configs)
