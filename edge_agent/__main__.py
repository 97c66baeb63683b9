"""``python -m edge_agent`` is ``prtc-agent``."""

from edge_agent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
