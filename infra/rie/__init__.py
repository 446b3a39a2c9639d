"""Run template.yaml's functions under the real Lambda Runtime Interface Emulator (run.py)."""
