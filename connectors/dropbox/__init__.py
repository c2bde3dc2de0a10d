"""Dropbox: the files iNextCRM synced into a Client's Dropbox — find, export, erase, verify.

- ``files.DropboxConnector`` — the connector;
- ``sdk`` — the official SDK made safe to point at a stand-in (``configure_dropbox_hosts``),
  with bounded retries (``DropboxApi``).

Imports are absolute, so this package never shadows the ``dropbox`` SDK.
"""
