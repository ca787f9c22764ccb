"""The request stream over a serial line (pyserial): a real board's UART (`/dev/ttyACM0`), or
QEMU's CMSDK UART on a TCP socket (`socket://127.0.0.1:PORT`, any `serial_for_url` URL).

Requests go out as they are. Answers come back escaped by `firmware/transport_uart.c` so that the
firmware can end the stream at any byte with an exit record (a fault in the middle of an answer
included): 0xDB 0xDD is a data byte 0xDB, 0xDB 0xDE is followed by the int32 exit status and the
uint32 fault status register CFSR (0 unless a fault), which `read` raises as DeviceExit. A serial line has no end of file: the session ends with END.
"""
from __future__ import annotations

import struct
import time

from tvm_tinytrain.codegen.session import LinkClosed, LinkTimeout, remaining
from tvm_tinytrain.errors import TinyTrainError

ESC, ESC_ESC, ESC_EXIT = 0xDB, 0xDD, 0xDE


class DeviceExit(LinkClosed):
    """The firmware ended (tt_exit) and sent its exit status (and CFSR for a fault) in band."""

    def __init__(self, status: int, cfsr: int):
        super().__init__(status, cfsr)
        self.status, self.cfsr = status, cfsr


def _serial():
    try:
        import serial
    except ImportError:
        raise TinyTrainError("serial link: pyserial is not installed; pip install pyserial==3.5") from None
    return serial


class SerialLink:
    def __init__(self, port):
        self.port = port
        self._serial = _serial()
        self._raw = bytearray()  # received, not yet decoded

    @classmethod
    def open(cls, url: str, baudrate: int = 115200, deadline=None, alive=lambda: True) -> "SerialLink":
        """Open `url`, retrying until `deadline` while `alive()` (QEMU may not be listening yet)."""
        serial = _serial()
        while True:
            try:
                return cls(serial.serial_for_url(url, baudrate=baudrate, timeout=0.1, write_timeout=None))
            except (serial.SerialException, OSError, ValueError) as e:
                error = e
            if not alive() or (deadline is not None and time.monotonic() > deadline):
                raise TinyTrainError(f"serial link: cannot open {url}: {error}. Check the port name (e.g. "
                                     f"/dev/ttyACM0, COM3) and that no other program holds it") from None
            time.sleep(0.02)

    def write(self, data: bytes, deadline):
        serial = self._serial
        try:
            self.port.write_timeout = remaining(deadline)
            self.port.write(data)
        except serial.SerialTimeoutException:
            raise LinkTimeout from None
        except (serial.SerialException, OSError):
            raise LinkClosed from None

    def _fill(self, deadline):
        serial = self._serial
        while True:
            left = remaining(deadline)
            if left == 0.0:
                raise LinkTimeout
            try:
                self.port.timeout = left
                chunk = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError):
                raise LinkClosed from None
            if chunk:
                self._raw += chunk
                return

    def read(self, n: int, deadline) -> bytes:
        out = bytearray()
        while len(out) < n:
            if not self._raw:
                self._fill(deadline)
            at = self._raw.find(ESC)
            if at != 0:
                take = min(len(self._raw) if at < 0 else at, n - len(out))
                out += self._raw[:take]
                del self._raw[:take]
                continue
            while len(self._raw) < 2:
                self._fill(deadline)
            code = self._raw[1]
            del self._raw[:2]
            if code == ESC_ESC:
                out.append(ESC)
            elif code == ESC_EXIT:
                raise DeviceExit(*struct.unpack("<iI", self.read(8, deadline)))
            else:
                raise TinyTrainError(f"serial link: corrupt answer stream (escape 0xDB 0x{code:02X}); is the "
                                     f"baud rate right, and is the board running this project's UART firmware?")
        return bytes(out)

    def wait_exit(self, deadline) -> int:
        """After the last answer: the exit status the firmware sends when it ends."""
        try:
            extra = self.read(1, deadline)
        except DeviceExit as e:
            return e.status
        raise TinyTrainError(f"serial link: unexpected byte 0x{extra[0]:02X} after the last answer")

    def end_requests(self):
        """Nothing to close: the END request ended the stream."""

    def close(self):
        self.port.close()
