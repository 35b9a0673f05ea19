"""The DeepDream component's parameters as the two orchestrators hand them over."""
from components.dream_generator import _int_list


def test_checkpoints_from_the_local_runner_and_from_the_kubeflow_v2_executor():
    assert _int_list([0, 20, 40, 60]) == (0, 20, 40, 60)  # LocalDagRunner: the list
    assert _int_list("[0, 20, 40, 60]") == (0, 20, 40, 60)  # kubeflow_v2_run_executor: its JSON text
