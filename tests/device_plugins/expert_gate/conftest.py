from tests.device_plugins.pcsc_reader.conftest import pcscd

__all__ = ["pcscd"]
