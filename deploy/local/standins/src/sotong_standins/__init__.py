"""Local stand-ins for the external providers Sotong's publishing engine delivers to.

Start them with ``sotong-standins`` (or ``python -m sotong_standins``); steer and inspect them with
:class:`sotong_standins.control.StandinControl`; embed them in a test with
:class:`sotong_standins.server.StandinServer`.
"""

from .control import StandinControl
from .server import Ports, Settings, StandinServer

__all__ = ["Ports", "Settings", "StandinControl", "StandinServer"]
__version__ = "0.1.0"
