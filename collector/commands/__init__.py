"""Commands to devices: persisted, sent, re-sent on reconnect, tracked through acks."""
