import numpy as np
import pytest
import torch

from lib.utils import box_ops


@pytest.mark.parametrize('kind', ['numpy', 'torch'])
def test_conversions_round_trip_and_hand_values(kind):
    xywh = np.array([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 1.0, 2.0]])
    b = torch.tensor(xywh) if kind == 'torch' else xywh
    xyxy = box_ops.box_xywh_to_xyxy(b)
    assert type(xyxy) is type(b)
    np.testing.assert_allclose(np.asarray(xyxy)[0], [10, 20, 40, 60])
    cxcywh = box_ops.box_xywh_to_cxcywh(b)
    np.testing.assert_allclose(np.asarray(cxcywh)[0], [25, 40, 30, 40])
    np.testing.assert_allclose(np.asarray(box_ops.box_xyxy_to_xywh(xyxy)), xywh)
    np.testing.assert_allclose(np.asarray(box_ops.box_cxcywh_to_xyxy(cxcywh)), np.asarray(xyxy))
    np.testing.assert_allclose(np.asarray(box_ops.box_xyxy_to_cxcywh(xyxy)), np.asarray(cxcywh))
    np.testing.assert_allclose(np.asarray(box_ops.box_cxcywh_to_xywh(cxcywh)), xywh)


def test_iou_hand_computed():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    b = np.array([5.0, 0.0, 10.0, 10.0])  # overlap 5x10 = 50, union 150
    assert box_ops.box_iou_xywh(a, b) == pytest.approx(1 / 3)
    assert box_ops.box_iou_xywh(a, np.array([20.0, 20.0, 5.0, 5.0])) == 0.0
    assert box_ops.box_iou_xywh(a, np.zeros(4)) == 0.0  # empty boxes give 0, not NaN
    t = box_ops.box_iou_xywh(torch.tensor(a), torch.tensor(b))
    assert float(t) == pytest.approx(1 / 3)


def test_iou_matrix_and_giou():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]])
    m = box_ops.box_iou_matrix_xyxy(a, b)
    assert m.shape == (1, 2) and m[0, 0] == 1 and m[0, 1] == 0
    # disjoint boxes: enclosing box 30x10 = 300, union 200 -> giou = 0 - 100/300
    giou, iou = box_ops.generalized_box_iou_xyxy(a[0], b[1])
    assert float(giou) == pytest.approx(-1 / 3, abs=1e-6) and float(iou) == 0
    loss, mean_iou = box_ops.giou_loss(b, b)
    assert float(loss) == pytest.approx(0, abs=1e-6) and float(mean_iou) == pytest.approx(1)


def test_giou_gradient_flows():
    pred = torch.tensor([[1.0, 1.0, 8.0, 9.0]], requires_grad=True)
    loss, _ = box_ops.giou_loss(pred, torch.tensor([[0.0, 0.0, 10.0, 10.0]]))
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_clipping():
    assert box_ops.clip_box_xywh([-5, -5, 20, 20], height=100, width=100, margin=0) == [0, 0, 15, 15]
    # a box fully outside keeps `margin` pixels inside the image
    x, y, w, h = box_ops.clip_box_xywh([150, 10, 20, 20], height=100, width=100, margin=10)
    assert x == 90 and w == 10 and (y, h) == (10, 20)
    c = box_ops.clip_boxes_xyxy(np.array([[-3.0, 5.0, 120.0, 80.0]]), height=60, width=100)
    np.testing.assert_allclose(c, [[0, 5, 100, 60]])
    ct = box_ops.clip_boxes_xyxy(torch.tensor([[-3.0, 5.0, 120.0, 80.0]]), height=60, width=100)
    assert ct.tolist() == [[0, 5, 100, 60]]
