"""tinydl.optim: single steps checked by hand, 100-step trajectories checked against PyTorch, schedulers, errors.

The hand-checked problem throughout:
    J(θ) = ½(θ₁² + 10 θ₂²),   ∇J(θ) = (θ₁, 10 θ₂),   θ₀ = (1, −2),   so the first gradient is g₀ = (1, −20).
"""

import math

import numpy as np
import pytest

import tinydl as td
from tinydl import nn, optim
from tinydl.optim import lr_scheduler

THETA0 = [1.0, -2.0]


def bowl(theta):
    """J(θ) = ½(θ₁² + 10 θ₂²)."""
    return 0.5 * (theta * theta * td.tensor(np.array([1.0, 10.0]))).sum()


def run(optimizer_class, steps, **options):
    """θ after ``steps`` steps on the bowl, starting from θ₀, as a NumPy array."""
    theta = td.tensor(np.array(THETA0), requires_grad=True)
    optimizer = optimizer_class([theta], **options)
    for _ in range(steps):
        optimizer.zero_grad()
        bowl(theta).backward()
        optimizer.step()
    return theta.numpy()


# ---------------------------------------------------------------- single steps by hand
def test_gd_step():
    # θ₁ = θ₀ − α g₀ = (1, −2) − 0.1 (1, −20) = (0.9, 0)
    np.testing.assert_allclose(run(optim.GD, 1, lr=0.1), [0.9, 0.0], atol=1e-15)
    # g₁ = (0.9, 0):  θ₂ = (0.9 − 0.09, 0) = (0.81, 0)
    np.testing.assert_allclose(run(optim.GD, 2, lr=0.1), [0.81, 0.0], atol=1e-15)


def test_plain_sgd_is_gd():
    np.testing.assert_array_equal(run(optim.SGD, 3, lr=0.1), run(optim.GD, 3, lr=0.1))


def test_sgd_weight_decay_step():
    # g = g₀ + λθ₀ = (1, −20) + 0.5 (1, −2) = (1.5, −21);  θ₁ = (1, −2) − 0.1 g = (0.85, 0.1)
    np.testing.assert_allclose(run(optim.SGD, 1, lr=0.1, weight_decay=0.5), [0.85, 0.1], atol=1e-15)


def test_sgd_momentum_steps():
    # step 1: b = g₀ = (1, −20);              θ₁ = (1, −2) − 0.1 b = (0.9, 0)
    # step 2: g₁ = (0.9, 0), b = 0.9 b + g₁ = (1.8, −18);  θ₂ = (0.9, 0) − 0.1 b = (0.72, 1.8)
    np.testing.assert_allclose(run(optim.SGD, 1, lr=0.1, momentum=0.9), [0.9, 0.0], atol=1e-15)
    np.testing.assert_allclose(run(optim.SGD, 2, lr=0.1, momentum=0.9), [0.72, 1.8], atol=1e-14)


def test_sgd_dampening_is_skipped_on_the_first_step():
    # step 1: b = g₀ (no dampening yet);      θ₁ = (0.9, 0)
    # step 2: b = 0.9 (1, −20) + (1 − 0.5)(0.9, 0) = (1.35, −18);  θ₂ = (0.9 − 0.135, 1.8) = (0.765, 1.8)
    np.testing.assert_allclose(run(optim.SGD, 2, lr=0.1, momentum=0.9, dampening=0.5), [0.765, 1.8], atol=1e-14)


def test_sgd_nesterov_steps():
    # step 1: b = g₀ = (1, −20);  g = g₀ + 0.9 b = (1.9, −38);  θ₁ = (1, −2) − 0.1 g = (0.81, 1.8)
    # step 2: g₁ = (0.81, 18);  b = 0.9 (1, −20) + g₁ = (1.71, 0);  g = g₁ + 0.9 b = (2.349, 18)
    #         θ₂ = (0.81, 1.8) − 0.1 g = (0.5751, 0)
    np.testing.assert_allclose(run(optim.SGD, 1, lr=0.1, momentum=0.9, nesterov=True), [0.81, 1.8], atol=1e-14)
    np.testing.assert_allclose(run(optim.SGD, 2, lr=0.1, momentum=0.9, nesterov=True), [0.5751, 0.0], atol=1e-14)


def adam_by_hand(steps, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, decoupled_decay=0.0):
    """Adam on the bowl written out with Python floats, one coordinate at a time."""
    theta, m, v = list(THETA0), [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        g = [theta[0], 10 * theta[1]]
        for i in range(2):
            theta[i] *= 1 - lr * decoupled_decay  # AdamW only
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]  # m ← β₁m + (1−β₁)g
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2  # v ← β₂v + (1−β₂)g²
            m_hat = m[i] / (1 - beta1**t)  # m̂ = m / (1 − β₁ᵗ)
            v_hat = v[i] / (1 - beta2**t)  # v̂ = v / (1 − β₂ᵗ)
            theta[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)  # θ ← θ − α m̂ / (√v̂ + ε)
    return theta


def test_adam_first_step_moves_each_weight_by_lr():
    # Step 1: m = 0.1 g, v = 0.001 g², so m̂ = g and v̂ = g²: θ moves by α·g/(|g| + ε) ≈ α·sign(g),
    # the same 0.1 for both weights although their gradients differ 20-fold.
    np.testing.assert_allclose(run(optim.Adam, 1, lr=0.1), [0.9, -1.9], rtol=1e-7)
    np.testing.assert_allclose(run(optim.Adam, 1, lr=0.1), adam_by_hand(1), rtol=1e-15)


def test_adam_later_steps_match_the_formula():
    # Step 2 worked out: θ₁ = (0.9, −1.9), g₁ = (0.9, −19);  m = (0.18, −3.7), v = (0.001809, 0.7606)
    # m̂ = m / 0.19, v̂ = v / 0.001999;  θ₂ = θ₁ − 0.1 m̂ / √v̂ ≈ (0.80041, −1.80017)
    np.testing.assert_allclose(run(optim.Adam, 2, lr=0.1), [0.800412, -1.800169], rtol=1e-5)
    np.testing.assert_allclose(run(optim.Adam, 10, lr=0.1), adam_by_hand(10), rtol=1e-13)


def test_adam_is_not_the_uncorrected_textbook_formula():
    # Without bias correction, step 1 would move θ₁ by α(1−β₁)g / √((1−β₂)g²) = 0.1·0.1/√0.001 ≈ 0.316,
    # not 0.1: early steps would be about 3 times too large.
    theta = run(optim.Adam, 1, lr=0.1)
    assert theta[0] == pytest.approx(0.9, rel=1e-7)
    assert theta[0] != pytest.approx(1 - 0.316, abs=0.01)


def test_adamw_decays_the_weights_before_the_adam_step():
    # θ ← θ(1 − αλ) = (1, −2)(1 − 0.1·0.5) = (0.95, −1.9),
    # then the Adam step −0.1·sign(g₀), with g₀ taken before the decay:  (0.85, −1.8)
    np.testing.assert_allclose(run(optim.AdamW, 1, lr=0.1, weight_decay=0.5), [0.85, -1.8], rtol=1e-7)
    np.testing.assert_allclose(
        run(optim.AdamW, 5, lr=0.1, weight_decay=0.5), adam_by_hand(5, decoupled_decay=0.5), rtol=1e-13
    )
    assert optim.AdamW([td.tensor([1.0], requires_grad=True)]).defaults["weight_decay"] == 0.01


# ---------------------------------------------------------------- mechanics
def test_zero_grad_sets_grads_to_none():
    a, b = td.tensor([1.0], requires_grad=True), td.tensor([2.0], requires_grad=True)
    optimizer = optim.SGD([a, b], lr=0.1)
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is not None
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_skips_parameters_without_a_gradient():
    used, unused = td.tensor([1.0], requires_grad=True), td.tensor([5.0], requires_grad=True)
    # With weight decay a zero gradient would still move `unused`; a None gradient must not.
    for optimizer in (
        optim.SGD([used, unused], lr=0.1, momentum=0.9, weight_decay=0.1),
        optim.Adam([used, unused], lr=0.1, weight_decay=0.1),
        optim.AdamW([used, unused], lr=0.1),
    ):
        optimizer.zero_grad()
        (used * 3.0).sum().backward()
        optimizer.step()
        assert unused.item() == 5.0
        assert unused not in optimizer.state and used in optimizer.state


def test_step_updates_in_place_without_recording_a_graph():
    seen = []

    class Recording(optim.GD):
        def _update(self, param, grad, group, state):
            seen.append(td.is_grad_enabled())
            super()._update(param, grad, group, state)

    model = nn.Linear(3, 2)
    arrays = [p.data for p in model.parameters()]
    optimizer = Recording(model.parameters(), lr=0.1)
    model(td.randn(4, 3)).sum().backward()
    optimizer.step()
    assert seen == [False, False]
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))  # same memory, new values
    assert all(p.is_leaf and p.requires_grad for p in model.parameters())


def test_optimisers_do_not_write_into_gradient_arrays():
    # Several steps on one gradient: the optimiser's buffers must be its own arrays, not .grad.
    for make in (
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: optim.AdamW(ps),
    ):
        a = td.tensor(np.array([1.0, 2.0]), requires_grad=True)
        b = td.tensor(np.array([1.0, 2.0]), requires_grad=True)
        optimizer = make([a, b])
        (a + b).sum().backward()  # both get the gradient (1, 1)
        for _ in range(3):
            optimizer.step()
        np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
        np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # same start, same gradients: same path


def test_momentum_steps_on_an_unchanged_gradient():
    # g = 1 each time: b = 1, then 0.9·1 + 1 = 1.9;  θ = 1 − 0.1·1 − 0.1·1.9 = 0.71
    theta = td.tensor(np.array([1.0]), requires_grad=True)
    optimizer = optim.SGD([theta], lr=0.1, momentum=0.9)
    theta.sum().backward()
    optimizer.step()
    optimizer.step()
    assert theta.item() == pytest.approx(0.71, abs=1e-15)
    assert theta.grad.item() == 1.0


def test_float32_parameters_stay_float32():
    model = nn.Linear(3, 2)
    for optimizer in (
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01),
        optim.Adam(model.parameters()),
        optim.AdamW(model.parameters()),
    ):
        model(td.randn(4, 3)).sum().backward()
        optimizer.step()
        assert all(p.dtype == np.float32 for p in model.parameters())


def test_param_groups_override_the_defaults():
    fast, slow = td.tensor([1.0], requires_grad=True), td.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([{"params": [fast], "lr": 1.0}, {"params": slow}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in optimizer.param_groups] == [1.0, 0.1]
    assert [g["momentum"] for g in optimizer.param_groups] == [0.5, 0.5]
    (fast + slow).sum().backward()
    optimizer.step()
    assert fast.item() == pytest.approx(0.0) and slow.item() == pytest.approx(0.9)


def test_module_parameters_generator_is_accepted_and_closure_is_supported():
    model = nn.Linear(2, 1, dtype=np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 2
    x = td.tensor(np.array([[1.0, 2.0]]))

    def closure():
        optimizer.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        return loss

    first = optimizer.step(closure).item()
    assert optimizer.step(closure).item() < first


def test_optimiser_error_messages():
    p = td.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimise Tensors, but parameter 1 is a ndarray"):
        optim.SGD([p, np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate -0.1"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        optim.Adam([{"params": [p], "lr": -1.0}])
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0 and dampening = 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match="invalid betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid eps"):
        optim.Adam([p], eps=-1e-8)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match=r"model.parameters\(\)"):
        optim.SGD(nn.Linear(2, 2).parameters, lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="required positional argument: 'lr'"):
        optim.GD([p])


# ---------------------------------------------------------------- against PyTorch: 100-step trajectories
def regression_problem():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 3))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], np.cos(x[:, 1])], axis=1)
    return x, y


TORCH_CONFIGS = {
    "sgd": (optim.SGD, "SGD", {"lr": 0.05}),
    "sgd-momentum-dampening": (optim.SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    "sgd-nesterov": (optim.SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "sgd-weight-decay": (optim.SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05}),
    "adam": (optim.Adam, "Adam", {"lr": 0.01}),
    "adam-weight-decay": (optim.Adam, "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    "adamw": (optim.AdamW, "AdamW", {"lr": 0.01}),
    "adamw-strong-decay": (optim.AdamW, "AdamW", {"lr": 0.02, "weight_decay": 0.5}),
}


@pytest.mark.torch
@pytest.mark.parametrize("config", list(TORCH_CONFIGS))
def test_trajectory_matches_torch_for_100_steps(torch, config):
    ours, theirs, options = TORCH_CONFIGS[config]
    x, y = regression_problem()
    td.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6, dtype=np.float64), nn.Tanh(), nn.Linear(6, 2, dtype=np.float64))
    torch_model = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()
    torch_model.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    initial = model.state_dict()
    optimizer = ours(model.parameters(), **options)
    torch_optimizer = getattr(torch.optim, theirs)(torch_model.parameters(), **options)
    x_td, y_td, x_t, y_t = td.tensor(x), td.tensor(y), torch.tensor(x), torch.tensor(y)

    for step in range(100):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x_td), y_td).backward()
        optimizer.step()
        torch_optimizer.zero_grad()
        torch.nn.functional.mse_loss(torch_model(x_t), y_t).backward()
        torch_optimizer.step()
        if step in (0, 9, 99):
            for name, value in torch_model.state_dict().items():
                np.testing.assert_allclose(
                    model.state_dict()[name],
                    value.numpy(),
                    rtol=1e-6,
                    atol=1e-10,
                    err_msg=f"{config}: {name} after step {step + 1}",
                )
    moved = max(np.abs(model.state_dict()[k] - initial[k]).max() for k in initial)
    assert moved > 0.05  # the comparison is not between two models that stood still


@pytest.mark.torch
def test_param_groups_match_torch(torch):
    x, y = regression_problem()
    td.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.Tanh(), nn.Linear(4, 2, dtype=np.float64))
    torch_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    torch_model.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    optimizer = optim.Adam([{"params": model[0].parameters(), "lr": 0.03}, {"params": model[2].parameters()}], lr=0.005)
    torch_optimizer = torch.optim.Adam(
        [{"params": torch_model[0].parameters(), "lr": 0.03}, {"params": torch_model[2].parameters()}], lr=0.005
    )
    for _ in range(50):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(td.tensor(x)), td.tensor(y)).backward()
        optimizer.step()
        torch_optimizer.zero_grad()
        torch.nn.functional.mse_loss(torch_model(torch.tensor(x)), torch.tensor(y)).backward()
        torch_optimizer.step()
    for name, value in torch_model.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name], value.numpy(), rtol=1e-6, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- learning-rate schedules
SCHEDULERS = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "multistep": ("MultiStepLR", {"milestones": [3, 7, 8], "gamma": 0.2}),
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
}


@pytest.mark.torch
@pytest.mark.parametrize("kind", list(SCHEDULERS))
def test_scheduler_lr_sequence_matches_torch(torch, kind):
    name, options = SCHEDULERS[kind]
    a, b = td.tensor([1.0], requires_grad=True), td.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    scheduler = getattr(lr_scheduler, name)(optimizer, **options)
    ta, tb = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    torch_optimizer = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1, momentum=0.9)
    torch_scheduler = getattr(torch.optim.lr_scheduler, name)(torch_optimizer, **options)

    ours, theirs = [scheduler.get_last_lr()], [torch_scheduler.get_last_lr()]
    for _ in range(25):  # past T_max, where the cosine climbs back up
        optimizer.step()
        torch_optimizer.step()
        scheduler.step()
        torch_scheduler.step()
        ours.append(scheduler.get_last_lr())
        theirs.append(torch_scheduler.get_last_lr())
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert [g["lr"] for g in optimizer.param_groups] == ours[-1]
    assert len({tuple(lrs) for lrs in ours}) > 3  # the rate really changed


def test_schedulers_by_hand():
    p = td.tensor([1.0], requires_grad=True)
    optimizer = optim.GD([p], lr=1.0)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(5):
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, 1.0, 0.1, 0.1, 0.01, 0.01], rtol=1e-15)

    optimizer = optim.GD([p], lr=1.0)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(4):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    # lr = (1 + cos(π t / 4)) / 2 for t = 0..4
    np.testing.assert_allclose(lrs, [1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 0.0], atol=1e-15)


def test_exponential_lr_does_not_drift_over_many_steps():
    optimizer = optim.GD([td.tensor([1.0], requires_grad=True)], lr=0.3)
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
    for _ in range(1000):
        scheduler.step()
    assert scheduler.get_last_lr()[0] == 0.3 * 0.99**1000


def test_scheduler_errors():
    optimizer = optim.GD([td.tensor([1.0], requires_grad=True)], lr=0.3)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(optimizer, T_max=0)
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR([1.0], step_size=2)


@pytest.mark.parametrize(
    "cls, options", [(optim.Adam, {}), (optim.Adam, {"weight_decay": 0.1}), (optim.AdamW, {"weight_decay": 0.05})]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_gives_the_numpy_lines_numbers_bit_for_bit(cls, options, dtype):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(7, 5)).astype(dtype)
    grads = rng.normal(size=(12, 7, 5)).astype(dtype)

    def run(fused):
        p = td.tensor(start.copy(), requires_grad=True, dtype=dtype)
        opt = cls([p], lr=0.01, fused=fused, **options)
        for g in grads:
            p.grad = td.tensor(g, dtype=dtype)
            opt.step()
        return p.numpy()

    np.testing.assert_array_equal(run(True), run(False))


def test_fused_adam_true_needs_numpy_parameters():
    p = td.tensor(np.ones((4, 4))[:, ::2], requires_grad=True)  # a non-contiguous parameter
    p.grad = td.ones(4, 2)
    p._data = np.asfortranarray(np.ones((4, 2)))
    with pytest.raises(ValueError, match="contiguous"):
        optim.Adam([p], fused=True).step()
    optim.Adam([p]).step()  # the default falls back to the NumPy lines
