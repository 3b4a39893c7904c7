"""A handler module that cannot be imported in a worker started with STUB_TEST_BREAK_IMPORTS=1,
so that a container fails while it boots (like a Modal image missing a package)."""
import os

if os.environ.get("STUB_TEST_BREAK_IMPORTS") == "1":
    raise ImportError("No module named 'a_package_the_image_lacks'")


def run(**payload):
    return {"ran": True}
