import pytest

from dlqos.errors import ConfigError
from dlqos.steps import STEPS, get_step


def test_every_step_names_importable_code_paths():
    import importlib

    for step in STEPS.values():
        module = importlib.import_module(step.module)
        if step.trains:
            assert callable(module.preprocessing_fn) and callable(module.run_fn)
            assert step.preprocessing_fn == f"{step.module}.preprocessing_fn"
        else:  # DeepDream: parameters for its component, which calls the module's dream()
            assert callable(module.dream) and {"backbone", "weights"} <= set(step.dream)
        assert step.pipeline_name.startswith("dlqos-")


def test_unknown_step_and_profile_are_config_errors():
    with pytest.raises(ConfigError, match="unknown step"):
        get_step("nope")
    with pytest.raises(ConfigError, match="no profile"):
        get_step("dense").profile("huge")
