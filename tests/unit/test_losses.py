"""Losses of the learned matcher and their ground truth, against hand-computed values."""

import torch

from modalign.data.synthetic.warp import pixel_grid
from modalign.losses import (
    LossConfig,
    coarse_ground_truth,
    coarse_loss,
    distillation_loss,
    fine_loss,
    fine_targets,
)


def identity_truth(height=32, width=48, shift=(0.0, 0.0)):
    grid = torch.tensor(pixel_grid(width, height), dtype=torch.float32) + torch.tensor(shift)
    return grid[None], torch.ones(1, height, width, dtype=torch.bool)


def test_identity_correspondence_gives_the_diagonal():
    correspondence, covisible = identity_truth()
    truth = coarse_ground_truth(correspondence, covisible, (4, 6), (4, 6), (32, 48))
    assert torch.equal(truth[0], torch.eye(24, dtype=torch.bool))


def test_a_shift_of_one_cell_and_invisible_cells():
    correspondence, covisible = identity_truth(shift=(8.0, 0.0))  # x0 = x1 + 8
    covisible[:, :8] = False  # first cell row of image 1 is not co-visible
    truth = coarse_ground_truth(correspondence, covisible, (4, 6), (4, 6), (32, 48))[0]
    assert truth.sum() == 3 * 5  # last column lands outside image 0, first row invisible
    assert truth[1 * 6 + 1, 1 * 6 + 0] and not truth[:, 0].any()


def test_focal_loss_small_for_the_truth_large_for_a_wrong_answer():
    truth = torch.eye(4, dtype=torch.bool)[None]
    right = truth.float() * 0.99 + 0.001
    wrong = torch.roll(truth, 1, dims=2).float() * 0.99 + 0.001
    config = LossConfig()
    assert coarse_loss(right, truth, config) < 1e-3 < 1 < coarse_loss(wrong, truth, config)


def test_fine_targets_and_loss():
    H = torch.tensor([[[1.0, 0, 5], [0, 1, -3], [0, 0, 1]]])  # x0 = x1 + (5, -3)
    keypoints0 = torch.tensor([[10.0, 10.0], [3.5, 7.5]])
    target = fine_targets(H, torch.zeros(2, dtype=torch.long), keypoints0)
    assert torch.allclose(target, torch.tensor([[5.0, 13.0], [-1.5, 10.5]]))
    assert fine_loss(target, target, 8.0) == 0
    assert torch.isclose(fine_loss(target + torch.tensor([4.0, 0]), target, 8.0), torch.tensor(0.5))


def test_distillation_loss_zero_when_aligned_and_teacher_gets_no_gradient():
    projection = torch.nn.Identity()
    student = torch.rand(2, 8, 4, 4, requires_grad=True)
    teacher = student.detach().clone().requires_grad_(True)
    assert distillation_loss(student, teacher, projection).abs() < 1e-6
    loss = distillation_loss(student, -teacher, projection)
    assert torch.isclose(loss, torch.tensor(2.0))
    loss.backward()
    assert student.grad is not None and teacher.grad is None
