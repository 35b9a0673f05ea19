import numpy as np
import pytest

from models.metrics import SparseMeanSquaredError
from dlqos.paper import LOSS_TABLE_ROWS, loss_measures


@pytest.mark.parametrize("network", sorted(LOSS_TABLE_ROWS))
def test_keras_metric_matches_the_paper_definition(network):
    rows = LOSS_TABLE_ROWS[network]
    metric = SparseMeanSquaredError()
    metric.update_state(np.argmax(rows["targets"], axis=1), np.asarray(rows["predictions"], np.float32))
    assert float(metric.result()) == pytest.approx(loss_measures(**rows)["mean_squared_error"], rel=1e-6)
