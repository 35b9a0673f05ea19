import pytest

from common.errors import ConfigError
from models.steps import STEPS, get_step


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_module_provides_its_declared_contract(name):
    import dataclasses

    from common.config import ModelConfig
    from models.steps import DreamStepModule, TrainedStepModule

    step = STEPS[name]
    module = step.code()  # imports it and checks it against the Protocol
    assert isinstance(module, TrainedStepModule if step.trains else DreamStepModule)
    assert issubclass(step.model, ModelConfig) and dataclasses.is_dataclass(step.model)
    if step.trains:
        assert step.preprocessing_fn == f"{step.module}.preprocessing_fn" and step.run_fn == f"{step.module}.run_fn"
        assert module.bench_model().count_params() > 0
    else:  # DeepDream: its component's backbone choice; the rest is DreamModel
        assert {"backbone", "weights"} <= set(step.dream)
    assert step.pipeline_name.startswith("dlqos-")
    contract = "TrainedStepModule" if step.trains else "DreamStepModule"
    with pytest.raises(ConfigError, match=f"common.errors does not provide {contract}"):
        dataclasses.replace(step, module="common.errors").code()


def test_unknown_step_and_profile_are_config_errors():
    with pytest.raises(ConfigError, match="unknown step"):
        get_step("nope")
    with pytest.raises(ConfigError, match="no profile"):
        get_step("dense").profile("huge")
