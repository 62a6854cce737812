"""Dataset lifecycle on top of ingest: content-addressed storage, creation, worker processing, deletion.

`core.ingest` turns one archive into a dataset directory; this package decides where that
directory lives, which rows use it, and when it is removed.
"""
