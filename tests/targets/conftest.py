"""Fixtures the target tests share (generated projects are built once per test run)."""
import pytest

from projects import cifar_images, write_tiny_resnet


@pytest.fixture(scope="session")
def tiny_resnet(tmp_path_factory):
    """Folder of the generated tiny_resnet project (last-1 scheme)."""
    return write_tiny_resnet(tmp_path_factory.mktemp("tiny_resnet"))


@pytest.fixture(scope="session")
def images():
    """Four (int8 3x32x32 input, label) CIFAR-10 test images."""
    return cifar_images()
