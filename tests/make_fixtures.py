"""Generate PyTorch reference fixtures for the nnlab C tests.

Writes into tests/fixtures/:
  lenet_sigmoid_avg.bin, lenet_relu_max.bin, lenet_bn.bin
      LeNet-5 variants on the first 16 FashionMNIST training images: initial
      parameters, train-mode logits/loss/gradients, BN running stats, and the
      loss curves of 10 Adam and 10 SGD+momentum steps.
  layers.bin
      single-layer forward/backward cases (conv, dense, pooling, activations,
      batch norm, softmax cross-entropy, global average pooling).
  optim.bin
      optimizer update rules (SGD/Adam/AdamW variants) and LR schedules.

Re-run from the repository root with Debian's python (it has torch 1.13):
    /usr/bin/python3 tests/make_fixtures.py [lenet] [layers] [optim]
(no argument: all three sets). The plain `python3` on PATH may not have
torch installed.

Conventions: everything is float32 (torch defaults), and integer data such as
class labels is stored as float32 too.  Every random draw is seeded
(torch.manual_seed(0) before each LeNet model, manual_seed(case index + 1) for
each layer case, manual_seed(42) for the optimizer data), so the output is
deterministic, and a case added later takes the next index at the end of
layers.bin, so the records before it keep their bytes.  Layer cases use y = layer(x), dy = randn_like(y) and
y.backward(dy), so dx/dw/db are gradients of sum(y * dy).  Losses use
CrossEntropyLoss with mean reduction.  BN running statistics start at 0 / 1
and are recorded after one train-mode forward (momentum 0.1, unbiased
variance).  Record names are "<case>.<field>" in layers.bin and optim.bin;
the LeNet files use x, y, param.<i>, buffer.<j>, logits, loss, grad.<i>,
eval_logits, adam_losses and sgd_losses.
"""

# Binary format (little-endian), one file per fixture set:
#   magic   4 bytes  "NNFX"
#   version uint32   1
#   count   uint32   number of records
#   records, each:
#     name_len uint32, name bytes (ASCII, no NUL)
#     ndim     uint32, dims uint32[ndim]
#     data     float32[prod(dims)]

import copy
import gzip
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")
DATA_DIR = "/usr/share/datasets/fashion-mnist"
N_IMAGES = 16


def write_fixtures(path, records):
    """Write an ordered list of (name, tensor-like) pairs in NNFX format."""
    with open(path, "wb") as f:
        f.write(b"NNFX")
        f.write(struct.pack("<II", 1, len(records)))
        for name, value in records:
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            arr = np.ascontiguousarray(np.asarray(value, dtype="<f4"))
            if arr.ndim == 0:
                arr = arr.reshape(1)
            encoded = name.encode("ascii")
            f.write(struct.pack("<I", len(encoded)))
            f.write(encoded)
            f.write(struct.pack("<I", arr.ndim))
            f.write(struct.pack("<%dI" % arr.ndim, *arr.shape))
            f.write(arr.tobytes())
    print("wrote %s (%d records, %d bytes)"
          % (os.path.relpath(path), len(records), os.path.getsize(path)))


# ---------------------------------------------------------------------------
# 1. LeNet variants
# ---------------------------------------------------------------------------

def read_idx(path):
    """Read a gzipped IDX file into a numpy uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    assert magic >> 8 == 0x08, "expected unsigned byte IDX data"
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(n):
    images = read_idx(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images[:n].astype(np.float32) / 255.0).reshape(n, 1, 28, 28)
    y = torch.from_numpy(labels[:n].astype(np.int64))
    return x, y


def lenet(variant):
    if variant == "sigmoid_avg":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))
    if variant == "relu_max":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    if variant == "bn":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    raise ValueError(variant)


def train_losses(initial_model, make_optimizer, x, y, steps=10):
    """Train a copy of initial_model (params and BN buffers) and return losses."""
    model = copy.deepcopy(initial_model)
    model.train()
    opt = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return torch.tensor(losses)


def make_lenet(variant, x, y):
    torch.manual_seed(0)
    model = lenet(variant)
    initial = copy.deepcopy(model)  # untouched params and BN buffers

    records = [("x", x), ("y", y.float())]
    for i, p in enumerate(model.parameters()):
        records.append(("param.%d" % i, p.detach().clone()))

    model.train()
    logits = model(x)
    loss = nn.CrossEntropyLoss()(logits, y)
    loss.backward()

    bn_layers = [m for m in model if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    j = 0
    for bn in bn_layers:
        records.append(("buffer.%d" % j, bn.running_mean.clone()))
        records.append(("buffer.%d" % (j + 1), bn.running_var.clone()))
        j += 2

    records.append(("logits", logits))
    records.append(("loss", loss.reshape(1)))
    for i, p in enumerate(model.parameters()):
        records.append(("grad.%d" % i, p.grad.clone()))

    if bn_layers:
        model.eval()
        with torch.no_grad():
            records.append(("eval_logits", model(x)))

    adam = train_losses(initial, lambda ps: torch.optim.Adam(ps, lr=0.001), x, y)
    sgd = train_losses(initial,
                       lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), x, y)
    records.append(("adam_losses", adam))
    records.append(("sgd_losses", sgd))
    return records, loss.item(), adam, sgd


# ---------------------------------------------------------------------------
# 2. Single-layer cases
# ---------------------------------------------------------------------------

# (name, layer constructor, input shape)
LAYER_CASES = [
    ("conv", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 9)),
    ("conv_k1", lambda: nn.Conv2d(2, 5, 1), (2, 2, 4, 4)),
    ("conv_pad2", lambda: nn.Conv2d(1, 6, 5, padding=2), (2, 1, 12, 12)),
    ("dense", lambda: nn.Linear(7, 5), (3, 7)),
    ("avgpool", lambda: nn.AvgPool2d(2, 2), (2, 3, 6, 6)),
    ("avgpool_s1", lambda: nn.AvgPool2d(3, stride=1, padding=1), (2, 2, 5, 5)),
    ("maxpool", lambda: nn.MaxPool2d(2, 2), (2, 3, 6, 6)),
    ("maxpool_k3s2p1", lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 2, 7, 7)),
    ("sigmoid", nn.Sigmoid, (2, 3, 4, 4)),
    ("relu", nn.ReLU, (2, 3, 4, 4)),
    ("tanh", nn.Tanh, (2, 3, 4, 4)),
    ("leaky_relu", lambda: nn.LeakyReLU(0.01), (2, 3, 4, 4)),
    ("bn2d", lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    ("bn1d", lambda: nn.BatchNorm1d(6), (8, 6)),
]


def layer_case(index, name, make_layer, shape):
    torch.manual_seed(index + 1)
    x = torch.randn(*shape, requires_grad=True)
    layer = make_layer()
    is_bn = isinstance(layer, nn.modules.batchnorm._BatchNorm)
    has_params = hasattr(layer, "weight") and layer.weight is not None
    if has_params:
        with torch.no_grad():
            if is_bn:
                layer.weight.copy_(torch.randn_like(layer.weight) * 0.5 + 1)
            else:
                layer.weight.copy_(torch.randn_like(layer.weight) * 0.5)
            layer.bias.copy_(torch.randn_like(layer.bias) * 0.5)
    layer.train()

    y = layer(x)
    dy = torch.randn_like(y)
    y.backward(dy)

    records = [(name + ".x", x), (name + ".y", y), (name + ".dy", dy),
               (name + ".dx", x.grad)]
    if has_params:
        records += [(name + ".w", layer.weight), (name + ".b", layer.bias),
                    (name + ".dw", layer.weight.grad),
                    (name + ".db", layer.bias.grad)]
    if is_bn:
        layer.eval()
        with torch.no_grad():
            y_eval = layer(x)
        records += [(name + ".running_mean", layer.running_mean),
                    (name + ".running_var", layer.running_var),
                    (name + ".y_eval", y_eval)]
    return records


def ce_case(index, name, scale, offset):
    torch.manual_seed(index + 1)
    x = (torch.randn(5, 10) * scale + offset).requires_grad_()
    labels = torch.randint(0, 10, (5,))
    loss = nn.CrossEntropyLoss()(x, labels)
    loss.backward()
    return [(name + ".x", x), (name + ".labels", labels.float()),
            (name + ".loss", loss.reshape(1)), (name + ".dx", x.grad)]


def make_layers():
    records = []
    for index, (name, make_layer, shape) in enumerate(LAYER_CASES):
        records += layer_case(index, name, make_layer, shape)
    n = len(LAYER_CASES)
    records += ce_case(n, "ce", 3.0, 0.0)
    records += ce_case(n + 1, "ce_big", 100.0, 1000.0)
    # added after the cases above (issue 13), so they keep their seeds
    records += layer_case(n + 2, "gap", lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 7))
    return records


# ---------------------------------------------------------------------------
# 3. Optimizers and LR schedules
# ---------------------------------------------------------------------------

OPTIM_CASES = [
    ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1)),
    ("sgd_mom", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    ("sgd_nesterov_wd", lambda ps: torch.optim.SGD(
        ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd_damp", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1)),
    ("adam", lambda ps: torch.optim.Adam(ps, lr=0.01)),
    ("adam_wd", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    ("adam_betas", lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
]

SCHED_CASES = [
    ("sched_step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5)),
    ("sched_cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=20, eta_min=0.001)),
    ("sched_cosine_short", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=8, eta_min=0.0)),
]


def make_optim():
    torch.manual_seed(42)
    p0 = torch.randn(64)
    grads = torch.randn(10, 64)
    records = [("p0", p0), ("grads", grads)]

    for name, make_opt in OPTIM_CASES:
        p = nn.Parameter(p0.clone())
        opt = make_opt([p])
        history = []
        for k in range(grads.shape[0]):
            p.grad = grads[k].clone()
            opt.step()
            history.append(p.detach().clone())
        records.append((name + ".params", torch.stack(history)))

    for name, make_sched in SCHED_CASES:
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make_sched(opt)
        lrs = []
        for _ in range(20):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        records.append((name, torch.tensor(lrs, dtype=torch.float64)))
    return records


def main(which):
    unknown = set(which) - {"lenet", "layers", "optim"}
    if unknown:
        sys.exit("make_fixtures.py: unknown fixture set %s (expected lenet, layers, optim)"
                 % ", ".join(sorted(unknown)))
    which = set(which) or {"lenet", "layers", "optim"}
    os.makedirs(OUT_DIR, exist_ok=True)
    if "lenet" in which:
        x, y = load_fashion_mnist(N_IMAGES)
        for variant in ("sigmoid_avg", "relu_max", "bn"):
            records, loss, adam, sgd = make_lenet(variant, x, y)
            write_fixtures(os.path.join(OUT_DIR, "lenet_%s.bin" % variant), records)
            print("  loss %.6f  adam %.4f -> %.4f  sgd %.4f -> %.4f"
                  % (loss, adam[0], adam[-1], sgd[0], sgd[-1]))
    if "layers" in which:
        write_fixtures(os.path.join(OUT_DIR, "layers.bin"), make_layers())
    if "optim" in which:
        write_fixtures(os.path.join(OUT_DIR, "optim.bin"), make_optim())


if __name__ == "__main__":
    main(sys.argv[1:])
