"""SmallCNN's own SGD step (mlspec avoids torch.optim for its 2 s import of torch._dynamo) against
torch.optim.SGD itself: the same parameters and momentum buffers after several steps."""

from __future__ import annotations

import copy

import numpy as np
import torch

from mlspec.models.small_cnn import build as small_cnn

META = {"classes": list("abcdefghij"), "offset": [0.5, 0.4, 0.3], "scale": [0.25, 0.2, 0.3]}
OPTIONS = {"learning_rate": 0.02, "momentum": 0.9, "weight_decay": 5e-4}


def test_training_steps_equal_torch_optim_sgd() -> None:
    model = small_cnn(OPTIONS, META, seed=0)
    reference = copy.deepcopy(model.net)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 8)
        model.train_batch(x, y)
        reference.train()
        loss = torch.nn.functional.cross_entropy(reference(model._tensor(x)), torch.from_numpy(y.astype(np.int64)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ours = torch.nn.utils.parameters_to_vector(model.net.parameters())
    theirs = torch.nn.utils.parameters_to_vector(reference.parameters())
    assert torch.equal(ours, theirs)
    buffers = torch.cat([optimizer.state[p]["momentum_buffer"].reshape(-1) for p in reference.parameters()])
    assert torch.equal(torch.from_numpy(model.optimizer_state()), buffers)


def test_optimizer_state_round_trips_into_a_fresh_model() -> None:
    model = small_cnn(OPTIONS, META, seed=0)
    rng = np.random.default_rng(1)
    model.train_batch(rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 4))
    fresh = small_cnn(OPTIONS, META, seed=0)
    fresh.load_optimizer_state(model.optimizer_state())
    assert np.array_equal(fresh.optimizer_state(), model.optimizer_state())
    assert np.any(fresh.optimizer_state() != 0)
