"""One router per resource; :func:`collector.api.app.create_app` mounts them."""
