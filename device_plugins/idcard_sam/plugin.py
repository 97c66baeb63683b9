"""``SamReaderPlugin`` (kind ``idcard_sam``): a SAM ID-card reader on a serial port.

It polls find → select → read, and publishes on the agent's local bus (never on the wire; the
``entrance`` workflow decides and emits):

* ``CARD_READ`` → :class:`~device_plugins.messages.CardRead` once per presentation, with
  ``last_byte_at`` = ``perf_counter()`` when the read answer's last byte arrived;
* ``CARD_REMOVED`` → :class:`~device_plugins.messages.CardRemoved` when a card that was read is
  lifted (``removal_polls`` finds in a row fail);
* ``CARD_UNREADABLE`` → :class:`~device_plugins.messages.CardUnreadable` once per
  presentation when a card gives no visitor: data of an unknown layout (given up at once, since
  reading again gives the same bytes) or ``read_attempts`` failed reads.

A card left on the reader is read once; it must be lifted and presented again to read again.
A card that cannot be read is tried ``read_attempts`` times per presentation. A port that
vanishes (USB unplugged) marks health degraded and is reopened with backoff. Action
``<name>.status`` answers the counters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from device_plugins.idcard_sam import protocol as p
from device_plugins.idcard_sam.card import CardFormatError, parse_text
from device_plugins.idcard_sam.link import PORT_ERRORS, ReaderTimeout, SamLink
from device_plugins.messages import (
    CARD_READ,
    CARD_REMOVED,
    CARD_UNREADABLE,
    CardRead,
    CardRemoved,
    CardUnreadable,
)
from edge_agent.plugin_api import BasePlugin, CommandRequest, HealthState, PluginContext


class SamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: str = Field(description="pyserial URL or device path, e.g. /dev/idcard0")
    baudrate: int = Field(default=115200, description="8N1")
    poll_interval_s: float = Field(default=0.25, ge=0.01, le=5)
    command_timeout_s: float = Field(default=1.0, gt=0, le=10, description="find and select")
    read_timeout_s: float = Field(default=3.0, gt=0, le=20, description="a read takes ~1 s")
    read_attempts: int = Field(default=3, ge=1, le=20, description="per presentation")
    removal_polls: int = Field(default=2, ge=1, le=20, description="failed finds = removed")
    max_timeouts: int = Field(default=3, ge=1, description="silent answers before reopening")
    reopen_min_s: float = Field(default=0.5, gt=0)
    reopen_max_s: float = Field(default=10.0, gt=0)


class SamReaderPlugin(BasePlugin):
    def __init__(self, ctx: PluginContext) -> None:
        super().__init__(ctx)
        self.settings = SamSettings.model_validate(dict(ctx.settings))
        self.link = SamLink(self.settings.port, baudrate=self.settings.baudrate)
        self._health: tuple[HealthState, str] | None = None
        self._held = False  # a card was read and has not been lifted since
        self._attempts = 0  # read attempts for the card now on the reader
        self._misses = 0  # consecutive failed finds
        self._timeouts = 0  # consecutive transactions without an answer
        self.counters = {"reads": 0, "failed_reads": 0, "timeouts": 0, "port_errors": 0}
        self.last_error = ""
        self.last_read_at: datetime | None = None
        ctx.register_action(f"{ctx.name}.status", self._status)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._set_health("starting", f"opening {self.settings.port}")
        super().start()

    def stop(self) -> None:
        super().stop()
        self.link.close()

    def run(self) -> None:
        s, stop = self.settings, self.ctx.stop_event
        backoff = s.reopen_min_s
        try:
            while not stop.is_set():
                if not self.link.is_open:
                    try:
                        self.link.open()
                    except PORT_ERRORS as exc:
                        self._port_failed(f"cannot open {s.port}: {exc}")
                        stop.wait(backoff)
                        backoff = min(backoff * 2, s.reopen_max_s)
                        continue
                    backoff = s.reopen_min_s
                    self.ctx.logger.info("reader port %s open", s.port)
                try:
                    self._poll()
                    self._timeouts = 0
                except ReaderTimeout as exc:
                    self._timed_out(str(exc))
                except PORT_ERRORS as exc:
                    self.link.close()
                    self._port_failed(f"port {s.port} lost: {exc}")
                    continue  # reopen at once; backoff applies if it stays gone
                stop.wait(s.poll_interval_s)
        finally:
            self.link.close()

    # -- one poll ----------------------------------------------------------------------------

    def _poll(self) -> None:
        s, stop = self.settings, self.ctx.stop_event
        found, _ = self.link.transact(p.FIND, timeout_s=s.command_timeout_s, stop=stop)
        if found.status == p.FIND_FAILED:
            self._set_health("ok", "no card")
            self._misses += 1
            if self._misses >= s.removal_polls:
                self._card_gone()
            return
        if found.status != p.CARD_FOUND:
            self._sam_error(found.status)
            return
        self._misses = 0
        self._set_health("ok", "card on reader")
        if self._held or self._attempts >= s.read_attempts:
            return  # read already (or given up): the card must be lifted first
        self._attempts += 1
        selected, _ = self.link.transact(p.SELECT, timeout_s=s.command_timeout_s, stop=stop)
        if selected.status != p.OK:
            self.ctx.logger.info("select failed: %s", p.describe(selected.status))
            return
        answer, last_byte_at = self.link.transact(
            p.READ_TEXT_PHOTO, timeout_s=s.read_timeout_s, stop=stop
        )
        if answer.status != p.OK:
            self._read_failed(p.describe(answer.status))
            return
        try:
            block = p.split_read_data(answer.data)
            person = parse_text(block.text).to_person()
        except CardFormatError as exc:
            # The same card gives the same bytes: do not read it again until it is lifted.
            self._attempts = s.read_attempts
            self._read_failed(f"unreadable card data: {exc}", exc.operator_text, exc.flag)
            return
        except ValueError as exc:  # pydantic errors are ValueErrors too
            self._read_failed(f"unreadable card data: {exc}")
            return
        self._held = True
        self.counters["reads"] += 1
        self.last_read_at = datetime.now(UTC)
        self.ctx.publish_local(
            CARD_READ,
            CardRead(
                reader=self.ctx.name,
                person=person,
                photo=block.photo,
                last_byte_at=last_byte_at,
                read_at=self.last_read_at,
            ),
        )

    def _card_gone(self) -> None:
        was_held = self._held
        self._held, self._attempts = False, 0
        if was_held:
            self.ctx.publish_local(CARD_REMOVED, CardRemoved(reader=self.ctx.name))

    # -- trouble -----------------------------------------------------------------------------

    def _read_failed(
        self,
        why: str,
        operator_text: str = "读卡失败，请重新放卡或手工登记",
        flag: str | None = None,
    ) -> None:
        self.counters["failed_reads"] += 1
        self.last_error = why
        self.ctx.logger.warning(
            "card read failed (attempt %d of %d): %s",
            self._attempts,
            self.settings.read_attempts,
            why,
        )
        if self._attempts >= self.settings.read_attempts:  # given up on this presentation
            self.ctx.publish_local(
                CARD_UNREADABLE,
                CardUnreadable(
                    reader=self.ctx.name, reason=operator_text, detail=why, card_type_flag=flag
                ),
            )

    def _sam_error(self, status: int) -> None:
        self.last_error = f"SAM: {p.describe(status)}"
        self._set_health("degraded", self.last_error)

    def _timed_out(self, why: str) -> None:
        self.counters["timeouts"] += 1
        self._timeouts += 1
        self.last_error = why
        if self._timeouts >= self.settings.max_timeouts:
            # A USB adapter that stopped answering often recovers on reopen.
            self._set_health("degraded", f"reader not answering: {why}")
            self.link.close()
            self._timeouts = 0

    def _port_failed(self, why: str) -> None:
        self.counters["port_errors"] += 1
        self.last_error = why
        self._set_health("degraded", why)

    def _set_health(self, state: HealthState, detail: str) -> None:
        if self._health != (state, detail):
            self._health = (state, detail)
            self.ctx.set_health(state, detail)
            if state in ("degraded", "failed"):
                self.ctx.logger.warning("reader %s: %s", state, detail)
            else:
                self.ctx.logger.info("reader %s: %s", state, detail)

    # -- actions -----------------------------------------------------------------------------

    def _status(self, request: CommandRequest) -> dict[str, Any]:
        parser = self.link.parser
        return {
            "port": self.settings.port,
            "open": self.link.is_open,
            "health": self._health[0] if self._health else "starting",
            "detail": self._health[1] if self._health else "",
            "card_held": self._held,
            **self.counters,
            "checksum_errors": parser.checksum_errors,
            "garbage_bytes": parser.garbage_bytes,
            "last_error": self.last_error,
            "last_read_at": self.last_read_at.isoformat() if self.last_read_at else None,
        }
