"""XDR backups to ASBX files, and ASBX restores (issue 12; wire-protocol.md §2.6, §10;
asb-format.md §13).

``backup_xdr(config, storage, cluster)`` makes the cluster ship a namespace to our receiver and
writes it to ASBX; ``restore_asbx(config, storage, cluster)`` sends each stored message back as
the write it was. See docs/xdr.md.
"""

from __future__ import annotations

from .backup_xdr import backup_xdr, stop_xdr
from .config import BackupXdrConfig
from .receiver import XdrReceiver

__all__ = ["BackupXdrConfig", "XdrReceiver", "backup_xdr", "stop_xdr"]
