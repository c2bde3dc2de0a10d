"""The access/portability export bundle handed to the person, and its verification."""

from dsr.bundle.build import BundleResult, build_bundle
from dsr.bundle.request import BundleRequest
from dsr.bundle.verify import VerifyReport, verify_bundle

__all__ = ["BundleRequest", "BundleResult", "VerifyReport", "build_bundle", "verify_bundle"]
