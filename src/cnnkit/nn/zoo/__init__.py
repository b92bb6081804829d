"""The model zoo: one file per family; importing this package registers them all.

Every builder takes keyword-only ``num_classes`` and ``in_channels`` and returns a
:class:`cnnkit.nn.base.CnnModel`; the torchvision-backed ones also take ``weights``.
Families are imported in historical order, which is the order ``cnnkit models`` lists.
"""

# isort: off
from cnnkit.nn.zoo import lenet  # noqa: F401  (each import registers its builders)
from cnnkit.nn.zoo import alexnet  # noqa: F401
from cnnkit.nn.zoo import vgg  # noqa: F401
from cnnkit.nn.zoo import nin  # noqa: F401
from cnnkit.nn.zoo import googlenet  # noqa: F401
from cnnkit.nn.zoo import resnet  # noqa: F401
from cnnkit.nn.zoo import resnet_cifar  # noqa: F401
from cnnkit.nn.zoo import densenet  # noqa: F401
from cnnkit.nn.zoo import signal1d  # noqa: F401
from cnnkit.nn.zoo import volume3d  # noqa: F401
from cnnkit.nn.zoo import quicknet  # noqa: F401

__all__: list[str] = []
