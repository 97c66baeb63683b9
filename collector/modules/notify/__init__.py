"""SMS and other notifications other modules send.

Public: :func:`collector.modules.notify.service.send_sms` (queue and send, idempotent by a
key) and the send log; senders in ``senders.py`` (GSM modem, HTTP gateway, log), the PDU
codec in ``pdu.py`` and a modem simulator in ``modem_sim.py``.

The module's declaration is in ``module.py``.
"""
