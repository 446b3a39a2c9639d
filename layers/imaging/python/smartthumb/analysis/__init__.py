"""Smart-crop analysis: face detection (YuNet) and saliency (U²-Net-p) on
onnxruntime, turned into Azure-style crop boxes.

Import cost matters: this package's ``__init__`` imports nothing heavy.
:mod:`.boxes` and :mod:`.azure` are pure (numpy at most) and never import
onnxruntime; only :mod:`.models`, :mod:`.faces` and :mod:`.saliency` do, and
only inside functions, on first use.
"""
