"""Fixtures shared by the model-layer test modules."""
import pytest


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory):
    """The OpenVINO export cache of the session: test_openvino.py and test_openvino_edit.py share the
    tiny text-to-image twin's exports (each conversion costs seconds)."""
    return tmp_path_factory.mktemp("openvino")
