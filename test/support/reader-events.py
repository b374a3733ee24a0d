#!/usr/bin/env python3
"""Prints, as JSON, each PC/SC reader's state as pcscd reports it: {"reader": {"events": N, "present": bool}}.

`events` is pcscd's per-reader event counter (the high 16 bits of dwEventState, pcsc-lite >= 1.8.0), which
pcscd increments on every card insertion and removal it sees: the tests compare it before and after the
agent re-inserts a card, to prove pcscd really saw a removal and an insertion. Plain ctypes over
libpcsclite, so nothing beyond Debian's pcscd and python3 is needed.
"""
import ctypes
import json
import sys

DWORD = ctypes.c_ulong  # pcsc-lite on Linux: DWORD is unsigned long
SCARD_SCOPE_SYSTEM = 2
SCARD_STATE_PRESENT = 0x20
SCARD_AUTOALLOCATE = DWORD(-1).value


class ReaderState(ctypes.Structure):
    _fields_ = [
        ("szReader", ctypes.c_char_p),
        ("pvUserData", ctypes.c_void_p),
        ("dwCurrentState", DWORD),
        ("dwEventState", DWORD),
        ("cbAtr", DWORD),
        ("rgbAtr", ctypes.c_ubyte * 33),
    ]


def main() -> int:
    lib = ctypes.CDLL("libpcsclite.so.1")
    context = ctypes.c_long()
    if lib.SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), None, None, ctypes.byref(context)) != 0:
        print("SCardEstablishContext failed", file=sys.stderr)
        return 1
    try:
        size = DWORD(0)
        if lib.SCardListReaders(context, None, None, ctypes.byref(size)) != 0:
            print("{}")
            return 0
        buffer = ctypes.create_string_buffer(size.value)
        lib.SCardListReaders(context, None, buffer, ctypes.byref(size))
        names = [name for name in buffer.raw[: size.value].split(b"\0") if name]
        states = (ReaderState * len(names))()
        for index, name in enumerate(names):
            states[index].szReader = name
            states[index].dwCurrentState = 0  # SCARD_STATE_UNAWARE: answer at once with the current state
        result = lib.SCardGetStatusChange(context, DWORD(0), states, DWORD(len(names)))
        if result != 0:
            print(f"SCardGetStatusChange failed: {result & 0xFFFFFFFF:#x}", file=sys.stderr)
            return 1
        print(json.dumps({s.szReader.decode(): {"events": (s.dwEventState >> 16) & 0xFFFF, "present": bool(s.dwEventState & SCARD_STATE_PRESENT)} for s in states}))
        return 0
    finally:
        lib.SCardReleaseContext(context)


if __name__ == "__main__":
    sys.exit(main())
