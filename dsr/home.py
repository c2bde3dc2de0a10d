"""Which folder holds dsr's state (``DSR_HOME``), found the same way from any folder.

1. ``DSR_HOME`` when it is set;
2. else the nearest folder named ``.dsr`` in the current folder or one above it, as git finds
   ``.git`` — so ``dsr`` run from ``docs/`` of a project uses the project's ``.dsr``;
3. else ``./.dsr`` in the current folder: a *new* home, which the CLI announces before it creates
   anything there (keys made in the wrong folder would sign with a key nobody publishes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

HOME_DIR = ".dsr"


class HomeSource(StrEnum):
    ENV = "DSR_HOME"
    FOUND = "found"
    NEW = "new"


@dataclass(frozen=True)
class HomeChoice:
    path: Path
    source: HomeSource

    def describe(self) -> str:
        """Why this folder, in words for a message."""
        if self.source is HomeSource.ENV:
            return f"{self.path} (DSR_HOME)"
        if self.source is HomeSource.FOUND:
            return f"{self.path} (the nearest {HOME_DIR} above {Path.cwd()})"
        return (
            f"{self.path} (DSR_HOME is unset and there is no {HOME_DIR} folder in "
            f"{self.path.parent} or any folder above it)"
        )


def find_home(start: Path | None = None, env: Mapping[str, str] | None = None) -> HomeChoice:
    """The home by the rule above; ValueError for a DSR_HOME that is set but empty."""
    env = os.environ if env is None else env
    explicit = env.get("DSR_HOME")
    if explicit is not None:
        if not explicit.strip():
            raise ValueError(
                "DSR_HOME is set but empty: set it to the folder holding dsr's state, or unset it "
                f"to use the nearest {HOME_DIR} folder"
            )
        return HomeChoice(Path(explicit.strip()).expanduser().resolve(), HomeSource.ENV)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / HOME_DIR).is_dir():
            return HomeChoice(folder / HOME_DIR, HomeSource.FOUND)
    return HomeChoice(here / HOME_DIR, HomeSource.NEW)
