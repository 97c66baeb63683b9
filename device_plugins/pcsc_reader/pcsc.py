"""The thin layer over pyscard's ``smartcard.scard`` (the PC/SC C API, one call per function).

One :class:`Pcsc` per reader plugin owns one PC/SC context. :meth:`Pcsc.wait` blocks in
``SCardGetStatusChange`` over every reader plus the ``\\\\?PnP?\\Notification`` pseudo-reader,
so both a card arriving or leaving and a reader attached or removed wake it at once, without
polling. The client library finds pcscd at ``/run/pcscd/pcscd.comm`` (or the socket named by
the ``PCSCLITE_CSOCK_NAME`` environment variable).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from smartcard import scard

from device_plugins.pcsc_reader.apdu import GET_UID, parse_uid_response

PNP = "\\\\?PnP?\\Notification"
# Errors meaning the context (or pcscd itself) is gone: establish a new one.
CONTEXT_LOST = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_F_COMM_ERROR,
}


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


class PcscError(OSError):
    def __init__(self, what: str, hresult: int) -> None:
        self.hresult = _code(hresult)
        super().__init__(f"{what}: {scard.SCardGetErrorMessage(hresult)} (0x{self.hresult:08X})")

    @property
    def context_lost(self) -> bool:
        return self.hresult in {_code(c) for c in CONTEXT_LOST}


@dataclass
class ReaderState:
    name: str
    state: int = scard.SCARD_STATE_UNAWARE

    @property
    def present(self) -> bool:
        """A card is in the field and answers (not mute)."""
        s = self.state
        return bool(s & scard.SCARD_STATE_PRESENT) and not s & scard.SCARD_STATE_MUTE


class Pcsc:
    def __init__(self) -> None:
        self._context: int | None = None
        self._pnp_state = scard.SCARD_STATE_UNAWARE
        self.pnp_supported = True

    @property
    def connected(self) -> bool:
        return self._context is not None

    def open(self) -> None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscError("establish context", hresult)
        self._context = context
        self._pnp_state = scard.SCARD_STATE_UNAWARE

    def close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)  # fails harmlessly when pcscd is gone

    def cancel(self) -> None:
        """Wake a :meth:`wait` in another thread (SCardCancel)."""
        if self._context is not None:
            scard.SCardCancel(self._context)

    def readers(self) -> list[str]:
        hresult, readers = scard.SCardListReaders(self._ctx(), [])
        if _code(hresult) == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscError("list readers", hresult)
        return list(readers)

    def wait(self, states: list[ReaderState], timeout_ms: int) -> bool:
        """Block until a card or the reader list changes (True) or ``timeout_ms`` pass
        (False); updates ``states`` in place."""
        query = [(s.name, s.state) for s in states]
        if self.pnp_supported:
            query.append((PNP, self._pnp_state))
        if not query:
            time.sleep(timeout_ms / 1000)
            return False
        hresult, answer = scard.SCardGetStatusChange(self._ctx(), timeout_ms, query)
        code = _code(hresult)
        if code in (_code(scard.SCARD_E_TIMEOUT), _code(scard.SCARD_E_CANCELLED)):
            return False
        if code == _code(scard.SCARD_E_UNKNOWN_READER):
            return True  # one of them vanished meanwhile: list again
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscError("wait for status change", hresult)
        by_name = {s.name: s for s in states}
        for name, event, _atr in answer:
            if name == PNP:
                if event & scard.SCARD_STATE_UNKNOWN:
                    self.pnp_supported = False
                self._pnp_state = event & ~scard.SCARD_STATE_CHANGED
            elif name in by_name:
                by_name[name].state = event & ~scard.SCARD_STATE_CHANGED
        return True

    def read_uid(self, reader: str) -> tuple[str, float]:
        """(UID hex, perf_counter() when the answer was complete) of the card on ``reader``."""
        hresult, card, protocol = scard.SCardConnect(
            self._ctx(),
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscError(f"connect to {reader}", hresult)
        try:
            hresult, response = scard.SCardTransmit(card, protocol, GET_UID)
            last_byte_at = time.perf_counter()
            if hresult != scard.SCARD_S_SUCCESS:
                raise PcscError(f"transmit to {reader}", hresult)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        return parse_uid_response(response), last_byte_at

    def _ctx(self) -> int:
        if self._context is None:
            raise PcscError("no context", scard.SCARD_E_INVALID_HANDLE)
        return self._context
