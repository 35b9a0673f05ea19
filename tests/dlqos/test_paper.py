import pytest

from dlqos.paper import LOSS_TABLE_PAPER, loss_measures, loss_table


def test_loss_table_reproduces_the_paper_to_two_decimals():
    table = loss_table()
    for network, expected in LOSS_TABLE_PAPER.items():
        for measure, value in expected.items():
            assert round(table[network][measure], 2) == value, (network, measure, table[network][measure])


def test_measures_on_a_perfect_classifier():
    perfect = loss_measures([[1.0, 0.0], [0.0, 1.0]], [[1, 0], [0, 1]])
    assert perfect["classification_error"] == 0 and perfect["mean_squared_error"] == 0
    assert perfect["cross_entropy"] == pytest.approx(0, abs=1e-9)


def test_every_paper_accuracy_says_which_accuracy_and_which_data():
    from dlqos.paper import PAPER, accuracy_note

    with_accuracy = [step for step, figures in PAPER.items() if "accuracy" in figures]
    assert with_accuracy and all(accuracy_note(step).count("; data: ") == 1 for step in with_accuracy)
    assert accuracy_note("transfer").startswith("training accuracy") and "flowers" in accuracy_note("transfer")
    assert accuracy_note("autoencoder") == ""
