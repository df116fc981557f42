"""Patch encoders: a ResNet-50 in plain torch, and torchvision/timm models by name.

The default encoder is ResNet-50 (the torchvision "V1.5" variant: the stride of
a down-sampling bottleneck sits on its 3x3 convolution) truncated after global
average pooling, so a patch becomes a 2048-d vector. Its parameter names are
those of torchvision's ``resnet50`` state dict, so ImageNet weights exported
from torchvision (as safetensors, or as a state dict file readable with
``torch.load(weights_only=True)``) load directly; the classifier keys
``fc.weight`` / ``fc.bias`` are ignored.

Weights always come from a local file: nothing is downloaded. Inputs are RGB
tensors in [0, 1], shape (B, 3, H, W); :func:`imagenet_normalise` applies the
ImageNet mean/std before the network.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import IntersurvError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here) -> 1x1 convolutions with a residual connection; 4x channel expansion."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50Features(nn.Module):
    """ResNet-50 up to and including global average pooling: (B, 3, H, W) -> (B, 2048).

    Layer ``k`` (1..4) has (3, 4, 6, 3) bottlenecks of width (64, 128, 256, 512);
    layers 2-4 halve the spatial size. Weights are initialised as torchvision
    does (Kaiming-normal fan-out convolutions, unit BatchNorm), which is what
    ``--random-weights`` uses.
    """

    out_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for k, (n_blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
            blocks = []
            for b in range(n_blocks):
                blocks.append(Bottleneck(in_ch, width, stride=2 if (b == 0 and k > 1) else 1))
                in_ch = width * Bottleneck.expansion
            setattr(self, f"layer{k}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


@dataclass
class Encoder:
    """A patch encoder ready for inference.

    ``name`` is the backbone name written to the ``.h5`` bags; ``weights`` says
    where the weights came from (file name and SHA-256, or ``"random (seed S)"``).
    """

    name: str
    weights: str
    module: nn.Module
    dim: int

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, dim) float32 features."""
        return self.module(imagenet_normalise(images)).flatten(1).float()


def imagenet_normalise(images: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per RGB channel with the ImageNet statistics."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (``weights_only=True``: never unpickles code).

    A torch file holding ``{"state_dict": {...}}`` or ``{"model": {...}}`` is
    unwrapped, and a ``module.`` prefix (from DataParallel) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise IntersurvError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors have no common base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntersurvError(f"{path}: cannot read weights ({first})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IntersurvError(f"{path}: not a state dict (expected a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _file_tag(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name} (sha256 {digest.hexdigest()[:16]})"


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], path: Path, ignore_prefixes: tuple[str, ...],
               assign: bool) -> None:
    """Load ``state`` strictly, except keys under ``ignore_prefixes`` (the classifier head);
    ``assign`` adopts the tensors (for a module built on the meta device)."""
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]!r})")
        raise IntersurvError(f"{path}: weights do not fit the backbone: {', '.join(parts)} parameter name(s)")
    bad = next((k for k, v in own.items() if v.shape != state[k].shape), None)
    if bad is not None:
        raise IntersurvError(f"{path}: parameter {bad!r} has shape {tuple(state[bad].shape)}, "
                             f"the backbone expects {tuple(own[bad].shape)}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, assign=assign)


def _external_model(name: str) -> tuple[nn.Module, tuple[str, ...]]:
    """A torchvision or timm model with its classifier removed, and the classifier's key prefixes."""
    lib, _, model_name = name.partition(":")
    if lib == "torchvision":
        try:
            import torchvision
        except ImportError:
            raise IntersurvError(f"backbone {name!r} needs torchvision, which is not installed "
                                 "(the built-in 'resnet50' does not)") from None
        try:
            model = torchvision.models.get_model(model_name, weights=None)
        except ValueError as exc:
            raise IntersurvError(f"backbone {name!r}: {exc}") from None
        for head in ("fc", "classifier", "heads", "head"):
            if isinstance(getattr(model, head, None), nn.Module):
                setattr(model, head, nn.Identity())
                return model, (f"{head}.",)
        raise IntersurvError(f"backbone {name!r}: cannot find its classifier (fc, classifier, heads or head)")
    if lib == "timm":
        try:
            import timm
        except ImportError:
            raise IntersurvError(f"backbone {name!r} needs timm, which is not installed "
                                 "(the built-in 'resnet50' does not)") from None
        try:
            model = timm.create_model(model_name, pretrained=False, num_classes=0)
        except RuntimeError as exc:
            raise IntersurvError(f"backbone {name!r}: {exc}") from None
        head = model.pretrained_cfg.get("classifier", "head")
        heads = head if isinstance(head, (list, tuple)) else (head,)
        return model, tuple(f"{h}." for h in heads)
    raise IntersurvError(f"unknown backbone {name!r} (use 'resnet50', 'torchvision:NAME' or 'timm:NAME')")


def build_encoder(name: str = "resnet50", weights: str | Path | None = None, *,
                  random_weights: bool = False, seed: int = 0, device: str = "cpu") -> Encoder:
    """The patch encoder ``name`` with weights from the local file ``weights``.

    ``name`` is ``"resnet50"`` (built in, 2048-d), ``"torchvision:<model>"`` or
    ``"timm:<model>"`` (only if that package is installed; the classifier head
    is removed so the output is the pooled feature vector). Without ``weights``
    the call is refused unless ``random_weights`` is set; random weights are
    drawn with ``seed`` and do not touch the global torch RNG.
    """
    if weights is None and not random_weights:
        raise IntersurvError("no backbone weights: give --weights FILE (safetensors or a state dict); "
                             "--random-weights gives meaningless features, for testing only")
    if weights is not None and random_weights:
        raise IntersurvError("--weights and --random-weights exclude each other")
    builtin = name == "resnet50"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if builtin:
            # With a weights file every tensor is replaced: build on the meta device, skipping the init.
            with torch.device("meta") if weights is not None else contextlib.nullcontext():
                module: nn.Module = ResNet50Features()
            ignore: tuple[str, ...] = ("fc.",)
        else:
            module, ignore = _external_model(name)
    module.eval()
    if weights is not None:
        path = Path(weights)
        _load_into(module, load_state_dict(path), path, ignore, assign=builtin)
        tag = _file_tag(path)
    else:
        tag = f"random (seed {seed})"
    if builtin:
        dim = ResNet50Features.out_dim
    else:  # the pooled width of an external model: one probe at the ImageNet input size
        with torch.inference_mode():
            dim = int(module(torch.zeros(1, 3, 224, 224)).flatten(1).shape[1])
    module.to(device)
    return Encoder(name=name, weights=tag, module=module, dim=dim)
