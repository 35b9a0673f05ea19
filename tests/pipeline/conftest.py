"""What the tests of pipeline/ share."""
from dlqos.config import GateConfig, PipelineConfig, TrainingConfig


def pipeline_config(**changes) -> PipelineConfig:
    """The dense step's pipeline config on made-up paths, with changes."""
    values = dict(step="dense", pipeline_name="dlqos-dense", pipeline_root="/root/p", metadata_path="/root/m.sqlite",
                  examples_dir="/data/ex", serving_model_dir="/serving/dense",
                  preprocessing_fn="dlqos.steps.dense.preprocessing_fn", run_fn="dlqos.steps.dense.run_fn",
                  training=TrainingConfig(epochs=2, train_steps=40, eval_steps=5, strategy="cpu"),
                  gate=GateConfig(min_value=0.8, max_regression=0.02),
                  beam_pipeline_args=("--runner=FnApiRunner",))
    values.update(changes)
    return PipelineConfig(**values)
