"""smartthumb: Bing-style thumbnails and Azure-style smart crops for AWS Lambda.

The package is pure Python around Pillow, numpy and onnxruntime. Import cost
matters on Lambda cold starts: nothing here imports numpy or onnxruntime at
module level except :mod:`smartthumb.analysis`.
"""

__version__ = "0.1.0"
