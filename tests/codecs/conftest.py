"""Run every codec test against each available implementation of the inner loops.

When the C twins (``aerobackup._speedups``) are active, each test runs twice: once as installed
and once with the pure-Python reference functions patched back in, so both stay tested against
the same conformance data and vectors.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aerobackup.plugins.codecs import asb, asb_decode, asb_encode

_NATIVE = (
    asb_decode.parse_records_fast is not getattr(asb_decode, "parse_records_fast_py", None)
    or asb_encode.encode_batch is not getattr(asb_encode, "encode_batch_py", None)
) and hasattr(asb_decode, "parse_records_fast_py")


@pytest.fixture(autouse=True, params=["installed", "python"] if _NATIVE else ["installed"])
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "python":
        saved = (asb_decode.parse_records_fast, asb_encode.encode_batch, asb.encode_batch)
        saved_finish = asb_decode._Columns.finish
        asb_decode.parse_records_fast = asb_decode.parse_records_fast_py
        asb_encode.encode_batch = asb_encode.encode_batch_py
        asb.encode_batch = asb_encode.encode_batch_py
        asb_decode._Columns.finish = getattr(asb_decode, "_columns_finish_py", saved_finish)  # type: ignore[method-assign]
        try:
            yield request.param
        finally:
            asb_decode.parse_records_fast, asb_encode.encode_batch, asb.encode_batch = saved
            asb_decode._Columns.finish = saved_finish  # type: ignore[method-assign]
    else:
        yield request.param
