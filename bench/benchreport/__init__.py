"""The parts of ``bench/report.py``: machine, held-out data, quality, speed, the source works' claims, the document.

Each part returns plain data (JSON-serialisable, cached under the work folder so the document can be
re-assembled without re-measuring) and its markdown; :mod:`.document` puts them together.
"""
