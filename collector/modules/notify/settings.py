"""Settings of the notify module (env ``PRTC_COLLECTOR_NOTIFY__<KEY>``)."""

from typing import Literal

from pydantic import BaseModel, Field


class GsmModemSettings(BaseModel):
    url: str = Field(
        default="/dev/ttyUSB2",
        description="serial port of the GSM modem, any pyserial URL (/dev/ttyUSB2, rfc2217://…)",
    )
    baudrate: int = Field(default=115200, description="serial speed")
    timeout_s: float = Field(default=30.0, gt=0, description="seconds to wait for each answer")
    pin: str = Field(default="", description="SIM PIN, entered with AT+CPIN when asked")
    smsc: str = Field(
        default="", description="service centre number; empty uses the one stored on the SIM"
    )


class HttpGatewaySettings(BaseModel):
    url: str = Field(default="", description="URL of the SMS gateway")
    method: Literal["POST", "PUT", "GET"] = Field(default="POST", description="HTTP method")
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra request headers (e.g. an Authorization key)"
    )
    body_template: str = Field(
        default='{"phone": $phone, "text": $text}',
        description="request body; $phone and $text are replaced (as JSON strings when "
        "body_format is json, URL-encoded when form)",
    )
    body_format: Literal["json", "form", "raw"] = Field(
        default="json", description="how $phone and $text are escaped, and the content type"
    )
    success_statuses: list[int] = Field(
        default_factory=lambda: [200, 201, 202], description="HTTP statuses counted as sent"
    )
    success_text: str = Field(
        default="", description="if set, the response body must contain this text"
    )
    timeout_s: float = Field(default=10.0, gt=0, description="request timeout")


class NotifySettings(BaseModel):
    """Notifications."""

    sender: Literal["log", "gsm", "http"] = Field(
        default="log",
        description="how SMS leave: log (development: written to the log only), gsm (a "
        "modem on a serial port), http (an SMS gateway)",
    )
    max_attempts: int = Field(default=5, ge=1, description="tries per message before failed")
    retry_base_s: int = Field(
        default=60, ge=1, description="first retry delay; doubles after each failed try"
    )
    gsm: GsmModemSettings = GsmModemSettings()
    http: HttpGatewaySettings = HttpGatewaySettings()
