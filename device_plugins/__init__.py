"""Device plugins: one package per kind of device (protocol code, simulator, agent glue).

The agent finds them through the ``prtc.device_plugins`` entry-point group and gives each
instance only an :class:`edge_agent.plugin_api.PluginContext`.
"""
