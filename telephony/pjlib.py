"""The few pjsip/pjsua C functions pjsua2 does not wrap, reached through the already-loaded module.

Used for facts pjsua2 hides (the compiled call-slot limit) and for answering an in-dialog INFO, which
pjsua leaves to the application and would otherwise answer with 500 after our callback returns.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
from typing import Any


@functools.cache
def pjsua_symbols() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(importlib.import_module("pjsua2._pjsua2").__file__ or "")
    except (OSError, ImportError):
        return None


def compiled_call_limit(asked: int) -> int:
    """The call slots pjsua really has: `maxCalls` is silently capped by the compiled PJSUA_MAX_CALLS.

    The pjsua2-python 2.15.1 wheel is built with PJSUA_MAX_CALLS = 4, so this returns 4 there.
    """
    lib = pjsua_symbols()
    if lib is None:
        return min(asked, 4)
    return min(asked, int(lib.pjsua_call_get_max_count()))


def calls_in_use(fallback: int) -> int:
    """Slots pjsua holds, including unanswered calls still waiting for pjsip's INVITE timeout."""
    lib = pjsua_symbols()
    return fallback if lib is None else max(fallback, int(lib.pjsua_call_get_count()))


def respond_in_dialog(rx_data: Any, code: int) -> bool:
    """Answer the request of a pjsua2 `SipRxData` inside its dialog; only valid inside the callback."""
    lib = pjsua_symbols()
    if lib is None:
        return False
    try:
        rdata = int(rx_data.pjRxData)
    except (TypeError, ValueError, AttributeError):
        return False
    lib.pjsip_rdata_get_dlg.restype = ctypes.c_void_p
    lib.pjsip_rdata_get_dlg.argtypes = [ctypes.c_void_p]
    dlg = lib.pjsip_rdata_get_dlg(rdata)
    if not dlg:
        return False
    lib.pjsip_dlg_respond.restype = ctypes.c_int
    lib.pjsip_dlg_respond.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return int(lib.pjsip_dlg_respond(dlg, rdata, code, None, None, None)) == 0
