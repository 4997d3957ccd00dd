import os
import tempfile

# compiled kernels are cached per model; keep test runs from writing into the user's cache
os.environ.setdefault("REMIT_CACHE_DIR", os.path.join(tempfile.gettempdir(), "remit-test-cache"))
