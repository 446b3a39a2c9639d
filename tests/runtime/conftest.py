"""The runtime tests drive infra/rie/run.py, imported as ``infra.rie.run``."""
