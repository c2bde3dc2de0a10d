"""Placeholder: filled in by the work on issue 5."""

from dagster import Definitions

from dsr.settings import Settings


def definitions(settings: Settings) -> Definitions:
    return Definitions()
