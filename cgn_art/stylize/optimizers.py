"""L-BFGS and Adam for one image tensor, written out so stylizing never imports torch._dynamo.

torch.optim's optimizers import torch._dynamo on first use, which costs 5-20 s on a small CPU: more
than a whole 256 px stylization. For one tensor and a fixed step the algorithms are a few lines.
Each ``step(closure)`` evaluates the loss and its gradient exactly once.
"""
from __future__ import annotations

import torch


class LBFGS:
    """Limited-memory BFGS with a unit step (no line search), as torch.optim.LBFGS(max_iter=1) steps.

    The first step is scaled down to at most 1 / |g|_1, the usual safe start before any curvature
    is known; later steps use the two-loop recursion over the last ``history`` (step, gradient
    change) pairs, with the initial Hessian scaled by s.y / y.y.
    """

    def __init__(self, param: torch.Tensor, history: int = 20):
        self.param = param
        self.history = history
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / y.s)
        self.previous_gradient: torch.Tensor | None = None
        self.previous_step: torch.Tensor | None = None

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        gradient = self.param.grad.reshape(-1).clone()
        if self.previous_gradient is not None:
            y, s = gradient - self.previous_gradient, self.previous_step
            ys = y.dot(s)
            if ys > 1e-10:  # keep only pairs with positive curvature, or the estimate stops being positive definite
                self.pairs = (self.pairs + [(s, y, 1.0 / ys)])[-self.history:]
        direction = -gradient
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = rho * s.dot(direction)
            direction -= alpha * y
            alphas.append(alpha)
        if self.pairs:
            s, y, _ = self.pairs[-1]
            direction *= s.dot(y) / y.dot(y)
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas)):
            beta = rho * y.dot(direction)
            direction += (alpha - beta) * s
        scale = 1.0 if self.previous_gradient is not None else min(1.0, 1.0 / float(gradient.abs().sum() + 1e-12))
        step = scale * direction
        self.param.add_(step.view_as(self.param))
        self.previous_gradient, self.previous_step = gradient, step
        return loss


class Adam:
    """Adam (Kingma & Ba) with bias correction, for one tensor."""

    def __init__(self, param: torch.Tensor, lr: float = 0.02, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        g = self.param.grad
        self.t += 1
        b1, b2 = self.betas
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = self.m / (1 - b1 ** self.t)
        v_hat = self.v / (1 - b2 ** self.t)
        self.param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
        return loss
